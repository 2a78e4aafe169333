#!/usr/bin/env bash
# `make docs-check`: serve the built site on loopback, render pages in headless Chromium and
# save a screenshot of each (and its DOM text, to grep). Installs chromium with apt-get when it
# is missing (Debian/Ubuntu). Usage: scripts/docs-check.sh SITE_DIR OUT_DIR
set -euo pipefail
site=${1:-site}
out=${2:-site-shots}
pages=(index.html guides/quickstart/index.html guides/cli/index.html reference/router/index.html
       reference/store/index.html reference/sync/index.html reference/schemas/index.html)

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
    echo "docs-check: installing chromium (apt-get)"
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
    browser=$(command -v chromium)
fi
[[ -f $site/index.html ]] || { echo "docs-check: no $site/index.html: run make docs" >&2; exit 1; }
mkdir -p "$out"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
    sleep 0.1
done

status=0
for page in "${pages[@]}"; do
    name=${page%/index.html}; name=${name//\//-}; name=${name%.html}
    url="http://127.0.0.1:$port/$page"
    flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2400)
    "$browser" "${flags[@]}" --screenshot="$out/$name.png" "$url" >/dev/null 2>&1
    "$browser" "${flags[@]}" --dump-dom "$url" 2>/dev/null > "$out/$name.html"
    if [[ ! -s $out/$name.png ]]; then
        echo "docs-check: $page: no screenshot" >&2; status=1
    elif grep -qE ':(class|mod|func|meth|attr|data|exc|obj):<code>' "$out/$name.html"; then
        echo "docs-check: $page: a raw role is rendered" >&2; status=1
    else
        echo "docs-check: $page -> $out/$name.png"
    fi
done
exit $status
