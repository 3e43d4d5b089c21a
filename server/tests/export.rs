//! `mmrace export`: the real binary writes SVG, PNG and GIF files; the pictures are decoded
//! and checked (dimensions, content, the red of a violated invariant, frame counts), bad
//! arguments are refused with exit status 2 naming the argument, and the output is
//! deterministic.

mod common;

use std::path::{Path, PathBuf};

use common::{mmrace_command, TempDir};
use render::tiny_skia::Pixmap;

const SEED: &str = "seed-mprotect-vs-migration-v6.4.json";
const WHATIF_C: &str = "whatif-c-restore-from-stale-entry-v6.4.json";

fn export(args: &[&str]) -> (i32, String, String) {
    let out = mmrace_command()
        .arg("export")
        .args(args)
        .output()
        .expect("run mmrace");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Export and return the bytes of the one file written.
fn export_one(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let mut a: Vec<&str> = args.to_vec();
    let p = path.to_str().unwrap().to_string();
    a.extend(["--out", &p]);
    let (code, stdout, stderr) = export(&a);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    assert_eq!(stdout.trim(), p, "the written file is listed");
    std::fs::read(&path).unwrap()
}

/// Pixels of exactly the theme's violation red (#c00000).
fn red_pixels(png: &[u8]) -> usize {
    let pm = Pixmap::decode_png(png).unwrap();
    pm.pixels()
        .iter()
        .filter(|p| p.red() == 0xc0 && p.green() == 0 && p.blue() == 0 && p.alpha() == 255)
        .count()
}

#[test]
fn svg_is_valid_self_contained_and_shows_the_step() {
    let dir = TempDir::new("export-svg");
    // Step 18 of the first schedule: the migration entry was just restored as a writable
    // PTE (0x8000000023456867) while mprotect is still in flight.
    let svg = export_one(
        dir.path(),
        "s.svg",
        &[SEED, "--step", "18", "--format", "svg"],
    );
    let text = String::from_utf8(svg.clone()).unwrap();
    assert!(text.contains("0x8000000023456867"), "the step's PTE hex");
    assert!(
        text.contains("was 0xd7ffe7fffdb97402"),
        "the PTE's old value"
    );
    assert!(text.contains("step 18 / 34"));
    assert!(text.contains("remove_migration_pte"));
    assert!(text.contains("@font-face"), "the font travels with the SVG");
    assert!(text.contains(r#"width="1280" height="720""#));
    // usvg (what the rasteriser uses) parses it, at the requested size.
    let tree = render::usvg::Tree::from_data(&svg, &render::usvg::Options::default()).unwrap();
    assert_eq!((tree.size().width(), tree.size().height()), (1280.0, 720.0));
    // A different step shows a different PTE value.
    let s0 = export_one(
        dir.path(),
        "s0.svg",
        &[SEED, "--step", "0", "--format", "svg"],
    );
    let s0 = String::from_utf8(s0).unwrap();
    assert!(s0.contains("0x8000000012345867") && !s0.contains("0x8000000023456867"));
    assert!(s0.contains("step 0 / 34"));
}

#[test]
fn png_has_the_size_asked_for_and_red_only_when_an_invariant_is_violated() {
    let dir = TempDir::new("export-png");
    let bad = export_one(
        dir.path(),
        "bad.png",
        &[WHATIF_C, "--step", "27", "--format", "png"],
    );
    let pm = Pixmap::decode_png(&bad).unwrap();
    assert_eq!((pm.width(), pm.height()), (1280, 720));
    let red = red_pixels(&bad);
    assert!(
        red > 10_000,
        "a violated invariant is drawn red: {red} red pixels"
    );

    // The same race on the real kernel, at a state where the entry is only tolerated.
    let safe = export_one(
        dir.path(),
        "safe.png",
        &[SEED, "--step", "18", "--format", "png"],
    );
    assert_eq!(
        red_pixels(&safe),
        0,
        "no red in a state where every invariant holds"
    );

    let big = export_one(
        dir.path(),
        "big.png",
        &[
            WHATIF_C,
            "--step",
            "27",
            "--format",
            "png",
            "--size",
            "1920x1080",
        ],
    );
    let pm = Pixmap::decode_png(&big).unwrap();
    assert_eq!((pm.width(), pm.height()), (1920, 1080));
    // Scaled by 1.5 in both directions: 2.25x the red area, give or take the edges.
    let big_red = red_pixels(&big) as f64;
    assert!(
        (big_red / red as f64 - 2.25).abs() < 0.2,
        "{big_red} vs {red}"
    );
}

#[test]
fn gif_has_one_frame_per_step_of_the_range() {
    let dir = TempDir::new("export-gif");
    let bytes = export_one(
        dir.path(),
        "r.gif",
        &[
            SEED,
            "--steps",
            "3..17",
            "--format",
            "gif",
            "--delay-ms",
            "800",
        ],
    );
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut dec = opts.read_info(bytes.as_slice()).unwrap();
    assert_eq!((dec.width(), dec.height()), (1280, 720));
    let mut frames = 0;
    while let Some(f) = dec.read_next_frame().unwrap() {
        assert_eq!(f.delay, 80, "hundredths of a second");
        assert_eq!((f.width, f.height), (1280, 720));
        frames += 1;
    }
    assert_eq!(frames, 17 - 3 + 1);
}

#[test]
fn a_range_of_svgs_is_one_zero_padded_file_per_step() {
    let dir = TempDir::new("export-seq");
    let out = dir.path().join("seq");
    let (code, stdout, stderr) = export(&[
        SEED,
        "--steps",
        "8..10",
        "--format",
        "svg",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
    let expect: Vec<PathBuf> = ["08", "09", "10"]
        .iter()
        .map(|n| out.join(format!("seed-mprotect-vs-migration-v6.4-step-{n}.svg")))
        .collect();
    assert_eq!(names, expect);
    for (i, p) in expect.iter().enumerate() {
        let s = std::fs::read_to_string(p).unwrap();
        assert!(
            s.contains(&format!("step {} / 34", 8 + i)),
            "{}",
            p.display()
        );
    }
}

#[test]
fn a_link_exports_its_step_like_the_file() {
    let dir = TempDir::new("export-link");
    let sc = sim_core::Scenario::from_json(sim_core::library::get(SEED).unwrap()).unwrap();
    let initial = sc.build().unwrap();
    let schedule = sc.schedules[0].resolve(&initial).unwrap();
    let link = sim_core::link::Link::new(sc, schedule, 18).encode();
    let url = format!("http://127.0.0.1:8080/#{link}");
    let from_link = export_one(dir.path(), "l.png", &[&url, "--format", "png"]);
    let from_file = export_one(
        dir.path(),
        "f.png",
        &[SEED, "--step", "18", "--format", "png"],
    );
    assert!(
        from_link == from_file,
        "the link's step 18 is the file's step 18"
    );
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let dir = TempDir::new("export-det");
    for (fmt, args) in [
        ("png", vec![WHATIF_C, "--step", "26", "--format", "png"]),
        (
            "gif",
            vec![WHATIF_C, "--steps", "24..27", "--format", "gif"],
        ),
        ("svg", vec![WHATIF_C, "--step", "26", "--format", "svg"]),
    ] {
        let a = export_one(dir.path(), &format!("a.{fmt}"), &args);
        let b = export_one(dir.path(), &format!("b.{fmt}"), &args);
        assert!(a == b, "{fmt}: two runs differ");
    }
}

#[test]
fn bad_arguments_exit_2_naming_the_argument() {
    let dir = TempDir::new("export-bad");
    let file = dir.path().join("x.svg");
    std::fs::write(&file, "").unwrap();
    let f = file.to_str().unwrap();
    let missing = dir.path().join("no/such/dir/x.png");
    let m = missing.to_str().unwrap();
    for (args, needle) in [
        (vec![SEED, "--format", "bmp"], "--format"),
        (vec![SEED, "--format", "png", "--size", "800x600"], "--size"),
        (vec![SEED, "--format", "gif", "--steps", "5..2"], "--steps"),
        (
            vec![SEED, "--format", "gif", "--steps", "0..999"],
            "--steps",
        ),
        (
            vec![SEED, "--format", "gif", "--steps", "three..4"],
            "--steps",
        ),
        (vec![SEED, "--format", "png", "--step", "35"], "--step"),
        (
            vec![SEED, "--format", "gif", "--delay-ms", "5"],
            "--delay-ms",
        ),
        (
            vec![SEED, "--format", "svg", "--steps", "1..3", "--out", f],
            "--out",
        ),
        (
            vec![SEED, "--format", "png", "--step", "1", "--out", m],
            "--out",
        ),
        (
            vec![
                SEED,
                "--format",
                "png",
                "--schedule",
                "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
            ],
            "--schedule",
        ),
        (
            vec!["no-such-scenario.json", "--format", "png"],
            "no-such-scenario.json",
        ),
        (vec!["#v1.!!!", "--format", "png"], "scenario link"),
    ] {
        let (code, _, stderr) = export(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
