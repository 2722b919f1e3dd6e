//! SIGHUP reloads the agent's config and restarts only the drivers whose config changed: the
//! journal keeps its numbering, an unchanged driver keeps its connections, an invalid file
//! changes nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use store_tests::{ports, wait, Agent, AgentConfig, TestEnv};

const LINE: &str = "{\"type\":\"scan\",\"device_id\":\"s1\",\"data\":\"4006381333931\"}\n";

/// A line-feed client that sends one line at a time and reads its answer.
struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let writer = TcpStream::connect(addr).unwrap();
        writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Self { writer, reader }
    }

    fn send(&mut self) -> u64 {
        self.writer.write_all(LINE.as_bytes()).unwrap();
        let mut answer = String::new();
        self.reader.read_line(&mut answer).unwrap();
        answer
            .trim()
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("unexpected answer {answer:?}"))
            .parse()
            .unwrap()
    }
}

fn hangup(agent: &Agent) {
    let pid = agent.pid().expect("agent running").to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

fn second_feed(port: u16) -> String {
    format!("\n[[drivers]]\ntype = \"line_feed\"\nid = \"feed2\"\nlisten = \"127.0.0.1:{port}\"\n")
}

#[test]
fn sighup_restarts_only_changed_drivers() {
    let env = TestEnv::new("reload");
    let dir = env.subdir("agent");
    // No broker: the journal takes events regardless.
    let config = AgentConfig::new(&dir, ports::free_port());
    let base = config.to_toml();
    let mut agent = Agent::start(&dir, config);
    agent.wait_ready(Duration::from_secs(30));
    let mut a = Client::connect(agent.feed_addr());
    assert_eq!(a.send(), 1);

    // Add a second line feed.
    let port2 = ports::free_port();
    let addr2: SocketAddr = format!("127.0.0.1:{port2}").parse().unwrap();
    std::fs::write(agent.config_path(), format!("{base}{}", second_feed(port2))).unwrap();
    hangup(&agent);
    wait::wait_until(Duration::from_secs(10), "second feed listening", || {
        ports::accepts(addr2)
    });
    let mut b = Client::connect(addr2);
    assert_eq!(b.send(), 2, "the journal kept its numbering");
    assert_eq!(a.send(), 3, "the unchanged feed kept its connection");
    let log = agent.log_tail(200);
    assert!(
        log.contains("started=[\"feed2\"]") && log.contains("unchanged=1"),
        "{log}"
    );

    // An invalid file changes nothing.
    std::fs::write(agent.config_path(), format!("{base}\nbogus = 1\n")).unwrap();
    hangup(&agent);
    wait::wait_until(Duration::from_secs(10), "reload refused in the log", || {
        agent.log_tail(50).contains("Reload refused")
    });
    assert_eq!(b.send(), 4);
    assert!(ports::accepts(addr2));

    // Removing the second feed stops it; the first keeps going.
    std::fs::write(agent.config_path(), &base).unwrap();
    hangup(&agent);
    wait::wait_until(Duration::from_secs(10), "second feed stopped", || {
        !ports::accepts(addr2)
    });
    assert_eq!(a.send(), 5);
    agent.check_running().unwrap();
}
