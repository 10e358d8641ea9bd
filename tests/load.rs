//! 200 API clients at once for 10 s against one real `wasmjobs serve` on
//! loopback, with runs in flight the whole time: every accepted run keeps
//! its record and every line of its output. (Bounded: 200 threads, one
//! request per connection, loopback only; no timing is asserted.)

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::*;
use common::{Env, zip_bytes};

const CLIENTS: usize = 200;
const JOBS: usize = 8;
const LINES: usize = 40;

#[test]
fn two_hundred_clients_lose_no_run_and_no_line() {
    let env = Env::new();
    let secret = env.add_tenant("acme");
    let auth = basic("acme", &secret);
    // Every run is kept (no pruning) so that every record can be checked.
    let s = Arc::new(start_with(&env, &["--history-size", "100000"], &[]));
    let script = format!(
        "for (let i = 0; i < {LINES}; i++) console.log('line ' + i + ' of ' + scriptArgs.slice(1).join(' '));"
    );
    for j in 0..JOBS {
        let (code, body) = put_raw(
            &s,
            &format!("/api/triggeredwebjobs/job{j}"),
            &auth,
            "Content-Type: application/zip\r\nContent-Disposition: attachment; filename=j.zip\r\n",
            &zip_bytes(&[("run.js", script.as_bytes())]),
        );
        assert_eq!(code, 200, "{body}");
    }

    // (job, run id, argument) of every accepted run; counts of answers.
    let accepted: Arc<Mutex<Vec<(usize, String, String)>>> = Arc::default();
    let answers: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let until = Instant::now() + Duration::from_secs(10);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (s, auth) = (s.clone(), auth.clone());
            let (accepted, answers) = (accepted.clone(), answers.clone());
            std::thread::spawn(move || {
                let mut n = 0usize;
                while Instant::now() < until {
                    let j = (c + n) % JOBS;
                    let code = match n % 4 {
                        0 => {
                            let arg = format!("c{c}n{n}");
                            let (code, head, _) = request(
                                &s,
                                "POST",
                                &format!("/api/triggeredwebjobs/job{j}/run?arguments={arg}"),
                                Some(&auth),
                                "",
                            );
                            if code == 202 {
                                let id = header_value(&head, "location")
                                    .and_then(|l| l.rsplit('/').next().map(str::to_string))
                                    .expect("Location");
                                accepted.lock().unwrap().push((j, id, arg));
                            }
                            code
                        }
                        1 => get(&s, "/api/webjobs", Some(&auth)).0,
                        2 => {
                            get(
                                &s,
                                &format!("/api/triggeredwebjobs/job{j}/history"),
                                Some(&auth),
                            )
                            .0
                        }
                        _ => get(&s, &format!("/api/triggeredwebjobs/job{j}"), Some(&auth)).0,
                    };
                    *answers.lock().unwrap().entry(code).or_default() += 1;
                    n += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let answers = answers.lock().unwrap().clone();
    let accepted = accepted.lock().unwrap().clone();
    eprintln!(
        "load: {} requests, answers {answers:?}, {} runs accepted",
        answers.values().sum::<usize>(),
        accepted.len()
    );
    // Only the expected answers: 200, 202, 409 (job already running), 429
    // (host's run bound); no 5xx, no dropped connection (0).
    for code in answers.keys() {
        assert!(
            matches!(code, 200 | 202 | 409 | 429),
            "unexpected answer {code}: {answers:?}"
        );
    }
    assert!(accepted.len() >= JOBS, "too few runs accepted: {answers:?}");

    // Every accepted run has its record, ends Success, and has all lines.
    for (j, id, arg) in &accepted {
        let deadline = Instant::now() + Duration::from_secs(120);
        let run = loop {
            let (code, body) = get(
                &s,
                &format!("/api/triggeredwebjobs/job{j}/history/{id}"),
                Some(&auth),
            );
            assert_eq!(code, 200, "run {id} of job{j} lost: {body}");
            let run: serde_json::Value = serde_json::from_str(&body).unwrap();
            if !matches!(run["status"].as_str(), Some("Running" | "Initializing")) {
                break run;
            }
            assert!(Instant::now() < deadline, "run {id} never ended");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(run["status"], "Success", "{run}");
        let url = run["output_url"].as_str().unwrap();
        let (code, log) = get(&s, &url[url.find("/vfs/").unwrap()..], Some(&auth));
        assert_eq!(code, 200);
        for i in 0..LINES {
            assert!(
                log.contains(&format!("line {i} of {arg}\r\n")),
                "run {id}: line {i} missing:\n{log}"
            );
        }
    }
    // And each job's history lists exactly the runs accepted for it.
    for j in 0..JOBS {
        let (_, body) = get(
            &s,
            &format!("/api/triggeredwebjobs/job{j}/history"),
            Some(&auth),
        );
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut listed: Vec<String> = h["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        let mut want: Vec<String> = accepted
            .iter()
            .filter(|(k, _, _)| *k == j)
            .map(|(_, id, _)| id.clone())
            .collect();
        listed.sort();
        want.sort();
        assert_eq!(listed, want, "job{j}");
    }
}
