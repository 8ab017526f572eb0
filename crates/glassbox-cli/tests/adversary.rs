//! `glassbox adversary mnist --loss`: what PGD climbs is chosen on the command line, recorded in
//! metrics-adversary.json, and an unknown loss is refused before anything runs.

mod common;

use common::{glassbox, text};
use std::path::Path;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("written")).expect("JSON")
}

/// The attack rows of one run: (name, settings.loss, settings.random_start).
fn rows(m: &serde_json::Value) -> Vec<(String, String, bool)> {
    m["metrics"]["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["attack"].as_str().unwrap().to_string(),
                r["settings"]["loss"].as_str().unwrap().to_string(),
                r["settings"]["random_start"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_pgd_loss_is_chosen_recorded_and_checked() {
    let o = glassbox(&["adversary", "mnist", "--loss", "hinge"], None);
    let s = text(&o);
    assert!(
        !o.status.success()
            && s.contains("hinge")
            && s.contains("margin")
            && s.contains("cross-entropy"),
        "{s}"
    );

    // A network trained briefly on a few digits is enough to attack.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let o = glassbox(
        &[
            "mnist",
            "train",
            "--epochs",
            "1",
            "--train-limit",
            "256",
            "--test-limit",
            "50",
            "--out",
            out,
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let attack = |extra: &[&str]| {
        let mut args = vec![
            "adversary",
            "mnist",
            "--limit",
            "20",
            "--eps",
            "0.1,0.2",
            "--steps",
            "2",
            "--out",
            out,
        ];
        args.extend(extra);
        let o = glassbox(&args, None);
        assert!(o.status.success(), "{}", text(&o));
        json(&tmp.path().join("metrics-adversary.json"))
    };
    for (extra, name, serialized) in [
        (&[][..], "margin", "Margin"),
        (&["--loss", "margin"][..], "margin", "Margin"),
        (
            &["--loss", "cross-entropy"][..],
            "cross-entropy",
            "CrossEntropy",
        ),
    ] {
        let m = attack(extra);
        assert_eq!(m["run"]["pgd_loss"], name, "{extra:?}");
        let rows = rows(&m);
        let pgd: Vec<_> = rows.iter().filter(|r| r.2).collect();
        assert_eq!(pgd.len(), 2, "{rows:?}");
        for (attack, loss, _) in pgd {
            assert_eq!(loss, serialized, "{extra:?}: {attack}");
            assert!(attack.ends_with(&format!("{name} loss")), "{attack}");
        }
        // FGSM is the cross-entropy's by definition, whatever PGD climbs.
        for (attack, loss, _) in rows.iter().filter(|r| !r.2) {
            assert_eq!(loss, "CrossEntropy", "{extra:?}: {attack}");
        }
    }
}
