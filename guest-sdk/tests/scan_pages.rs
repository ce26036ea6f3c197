//! Scans over many pages: every row, in key order, whichever way it is read.

use wasmraft_sdk::testing::TestHost;
use wasmraft_sdk::{Applier, Ctx, Encoding, Error, Table};

const ROWS: Table<u32, String> = Table::new("rows");

struct Rows;

impl Applier for Rows {
    const NAME: &'static str = "rows";
    const VERSION: &'static str = "0.1.0";
    type Command = u32;
    type Query = ();
    type Output = ();
    type QueryOutput = (Vec<u32>, usize);

    /// Writes rows `0..n` (keys in descending order, to be sure the store orders them).
    fn apply(ctx: &mut Ctx, n: u32) -> Result<(), Error> {
        (0..n).rev().try_for_each(|i| ROWS.put(ctx, &i, &format!("row {i}")))
    }

    /// The rows' keys as the table reads them, and how many entries a raw scan copies out.
    fn query(ctx: &Ctx, _: ()) -> Result<(Vec<u32>, usize), Error> {
        let mut keys = Vec::new();
        for row in ROWS.iter(ctx) {
            let (key, value) = row?;
            assert_eq!(value, format!("row {key}"));
            keys.push(key);
        }
        Ok((keys, ctx.scan(b"", None).count()))
    }
}

#[test]
fn a_scan_reads_every_row_over_many_pages() {
    let mut h = TestHost::new();
    h.apply::<Rows>(Encoding::Postcard, &1500).expect("written");
    let (keys, raw) = h.query::<Rows>(Encoding::Postcard, &()).expect("read");
    assert_eq!(keys, (0..1500).collect::<Vec<u32>>());
    assert_eq!(raw, 1500);
}
