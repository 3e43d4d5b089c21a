use sim_core::Scenario;

#[test]
fn print_mprotect_basic() {
    let sc =
        Scenario::from_json(include_str!("../../assets/scenarios/mprotect-basic.json")).unwrap();
    let mut m = sc.build().unwrap();
    while let Some(&t) = m.runnable().first() {
        let r = m.step(t).unwrap();
        println!(
            "{:>3} T{} {:<24} {} | {}",
            r.index,
            r.thread,
            r.func,
            r.explanation,
            serde_json::to_string(&r.changes).unwrap()
        );
        assert!(r.violations.is_empty(), "{:?}", r.violations);
    }
}
