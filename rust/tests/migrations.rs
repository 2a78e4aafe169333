use crate::migrations::migrations;

#[test]
fn migrations_are_sorted_sql_files() {
    let all = migrations();
    let names: Vec<&str> = all.iter().map(|(name, _)| *name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    for (name, sql) in all {
        assert!(name.ends_with(".sql"), "{name}");
        assert!(name
            .split('_')
            .next()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit()));
        assert!(!sql.trim().is_empty(), "{name} is empty");
    }
}
