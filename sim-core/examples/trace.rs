//! Developer tool: `cargo run -p sim-core --example trace -- <scenario.json> "<compact schedule>"`
//! prints the expanded schedule and the step table.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: trace <scenario.json> \"0x6 1* 0*\"");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[1]).expect("read scenario");
    let sc = sim_core::Scenario::from_json(&text).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut m = sc.build().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let sched = sim_core::schedule::expand(&mut m.clone(), &args[2]).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    println!("{}", serde_json::to_string(&sched).unwrap());
    for &t in &sched {
        let r = m.step(t).unwrap();
        println!(
            "{:>3} {:<12} {:<28} {} {}",
            r.index,
            m.thread_name(t),
            r.func,
            r.explanation,
            if r.violations.is_empty() {
                String::new()
            } else {
                format!("VIOLATES {:?}", r.violations)
            }
        );
    }
    for t in 0..m.threads.len() {
        println!("{}: {:?}", m.thread_name(t), m.status(t));
    }
}
