//! A node's Prometheus metrics as the tests read them: scraped over HTTP and parsed from
//! the text format.

use crate::http::HttpClient;
use std::collections::BTreeMap;
use std::time::Duration;

type Labels = BTreeMap<String, String>;

/// One scrape: every sample, by name, with its labels.
#[derive(Debug, Default)]
pub struct Scrape {
    samples: BTreeMap<String, Vec<(Labels, f64)>>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a sample value: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect();
            scrape.samples.entry(name.to_string()).or_default().push((labels, value));
        }
        scrape
    }

    /// The sum of the samples of `name` that carry every label of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Some(samples) = self.samples.get(name) else { return 0.0 };
        let wanted =
            |have: &BTreeMap<String, String>| labels.iter().all(|(k, v)| have.get(*k).map(String::as_str) == Some(*v));
        samples.iter().filter(|(have, _)| wanted(have)).map(|(_, v)| v).sum()
    }

    /// The sample of `name` (summed over its labels, if it has any).
    pub fn get(&self, name: &str) -> f64 {
        self.sum(name, &[])
    }

    pub fn has(&self, name: &str) -> bool {
        self.samples.contains_key(name)
    }
}

/// Scrapes `http://{address}/metrics`, giving up after `within`.
pub async fn scrape(client: &HttpClient, address: &str, within: Duration) -> Result<Scrape, String> {
    let url = format!("http://{address}/metrics");
    let reply = tokio::time::timeout(within, client.send("GET", &url, None, None))
        .await
        .map_err(|_| format!("no answer from {url} within {within:?}"))??;
    match reply.status {
        200 => Ok(Scrape::parse(&reply.text())),
        status => Err(format!("{url} answered {status}")),
    }
}
