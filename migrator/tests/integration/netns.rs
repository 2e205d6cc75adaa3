//! Separate hosts on one machine: a network namespace per host (`ip netns` + a veth pair),
//! so a test's processes reach the database servers only across a network link, as
//! workers on other machines would. Where the server listens on the link's machine-side
//! address and trusts the links' network (`.ci/worker-hosts` sets that up in CI), the
//! hosts connect to it there; otherwise (a server on loopback only) the test puts a relay
//! on that address, and every byte a host sends still crosses its own link.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's `ip`; `Hosts::make`
//! says why it cannot and the caller decides whether that is a skip or a failure.

use std::process::Command;

/// Network namespaces made by one test, deleted (with their links) when dropped, also
/// when the test fails.
pub struct Hosts {
    names: Vec<String>,
}

/// One host: its namespace, the address of the machine (the link's other end) as seen
/// from inside it, and the host's own address on the link.
pub struct Host {
    pub netns: String,
    pub gateway: String,
    pub address: String,
}

impl Hosts {
    /// Whether this process runs as root, the condition under which a test must use
    /// separate hosts.
    pub fn root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                == Some("0")
        })
    }

    /// `count` hosts named after `tag` and this process id (concurrent runs do not
    /// collide), each a namespace with a veth link `10.213.<n>.<k>/30` to the machine.
    pub fn make(tag: &str, count: usize) -> Result<(Hosts, Vec<Host>), String> {
        let mut hosts = Hosts { names: Vec::new() };
        let mut made = Vec::new();
        let pid = std::process::id();
        for n in 0..count {
            let netns = format!("seaway-{tag}-{pid}-{n}");
            // Interface names are limited to 15 bytes.
            let outside = format!("sw{}o{n}", pid % 100_000);
            let inside = format!("sw{}i{n}", pid % 100_000);
            // A /30 per host, spread over the third octet by the process id.
            let third = (pid as usize * 7 + n * 4) % 250 + 1;
            let net = format!("10.213.{third}");
            hosts.names.push(netns.clone());
            let (outer_addr, inner_addr) = (format!("{net}.1/30"), format!("{net}.2/30"));
            let steps: [&[&str]; 7] = [
                &["netns", "add", &netns],
                &[
                    "link", "add", &outside, "type", "veth", "peer", "name", &inside, "netns",
                    &netns,
                ],
                &["addr", "add", &outer_addr, "dev", &outside],
                &["link", "set", &outside, "up"],
                &["-n", &netns, "addr", "add", &inner_addr, "dev", &inside],
                &["-n", &netns, "link", "set", &inside, "up"],
                &["-n", &netns, "link", "set", "lo", "up"],
            ];
            for args in steps {
                ip(args)?;
            }
            made.push(Host {
                netns,
                gateway: format!("{net}.1"),
                address: format!("{net}.2"),
            });
        }
        Ok((hosts, made))
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for name in &self.names {
            // Deleting the namespace deletes the veth pair with it.
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Runs `ip ARGS`; its error output when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` (iproute2) could not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
