//! Nodes on a network of their own, so that one can be cut off as a real partition cuts it:
//! its packets dropped and its connections hanging, not refused (loopback cannot do that).
//! Each node runs in a network namespace of its own, joined to the others and to the host
//! by a bridge; cutting a node takes its link down. Needs root and iproute2's `ip`.

use std::io;
use std::process::Command;

/// The subnet the nodes live on: node `id` is 10.231.0.`id`, the host 10.231.0.254.
const SUBNET: &str = "10.231.0";

pub struct Network {
    prefix: String,
    ids: Vec<u64>,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let status = Command::new("ip").args(args).status()?;
    match status.success() {
        true => Ok(()),
        false => Err(io::Error::other(format!("`ip {}` failed: {status}", args.join(" ")))),
    }
}

/// Runs `ip` and ignores a failure: for removing what may not exist.
fn ip_quietly(args: &[&str]) {
    let _ = Command::new("ip").args(args).stderr(std::process::Stdio::null()).status();
}

impl Network {
    /// A bridge `<prefix>br` and, for each id, a namespace `<prefix><id>` with a link to the
    /// bridge. Whatever a previous run with the same prefix left behind is removed first.
    pub fn create(prefix: &str, ids: &[u64]) -> io::Result<Network> {
        assert!(ids.iter().all(|&id| (1..254).contains(&id)), "node ids must fit the subnet");
        let network = Network { prefix: prefix.to_string(), ids: ids.to_vec() };
        network.remove();
        let bridge = network.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{SUBNET}.254/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for &id in ids {
            let (ns, host_end, node_end) =
                (network.namespace(id), network.link(id), format!("{}{id}c", network.prefix));
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["link", "add", &host_end, "type", "veth", "peer", "name", &node_end])?;
            ip(&["link", "set", &node_end, "netns", &ns])?;
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", network.address(id)), "dev", &node_end])?;
            ip(&["-n", &ns, "link", "set", &node_end, "up"])?;
            ip(&["link", "set", &host_end, "master", &bridge, "up"])?;
        }
        Ok(network)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// The host's end of node `id`'s link.
    fn link(&self, id: u64) -> String {
        format!("{}{id}h", self.prefix)
    }

    pub fn namespace(&self, id: u64) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Node `id`'s address on the network.
    pub fn address(&self, id: u64) -> String {
        format!("{SUBNET}.{id}")
    }

    /// Cuts node `id` off from everyone (`true`), or joins it again.
    pub fn cut(&self, id: u64, cut: bool) {
        ip(&["link", "set", &self.link(id), if cut { "down" } else { "up" }]).expect("the link changes");
    }

    fn remove(&self) {
        for &id in &self.ids {
            ip_quietly(&["link", "del", &self.link(id)]);
            ip_quietly(&["netns", "del", &self.namespace(id)]);
        }
        ip_quietly(&["link", "del", &self.bridge()]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.remove();
    }
}
