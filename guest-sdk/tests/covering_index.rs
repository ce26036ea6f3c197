//! A covering index: its entries carry what it covers of their row, kept current when the
//! row's keys or its cover change, and gone with the row.

use serde::{Deserialize, Serialize};
use wasmraft_sdk::testing::TestHost;
use wasmraft_sdk::{Applier, Ctx, Encoding, Error, Index, Table};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Place {
    cells: Vec<u32>,
    owner: String,
    note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Command {
    Put(u32, Place),
    Delete(u32),
}

/// Every entry of cells `0..=max`: (cell, place, its owner).
type Entries = Vec<(u32, u32, String)>;

const BY_CELL: Index<u32, Place, u32, String> =
    Index::covering("places/by-cell", |p| p.cells.clone(), |p| p.owner.clone());
const PLACES: Table<u32, Place> = Table::new("places").with_indexes(&[&BY_CELL]);

struct Places;

impl Applier for Places {
    const NAME: &'static str = "places";
    const VERSION: &'static str = "0.1.0";
    type Command = Command;
    type Query = u32;
    type Output = ();
    type QueryOutput = Entries;

    fn apply(ctx: &mut Ctx, command: Command) -> Result<(), Error> {
        match command {
            Command::Put(id, place) => PLACES.put(ctx, &id, &place),
            Command::Delete(id) => PLACES.delete(ctx, &id).map(drop),
        }
    }

    fn query(ctx: &Ctx, max: u32) -> Result<Entries, Error> {
        BY_CELL.covered(ctx, 0..=max).collect()
    }
}

fn place(cells: &[u32], owner: &str, note: &str) -> Place {
    Place { cells: cells.to_vec(), owner: owner.into(), note: note.into() }
}

fn entries(h: &mut TestHost) -> Entries {
    h.query::<Places>(Encoding::Postcard, &u32::MAX).expect("answered")
}

#[test]
fn entries_carry_the_cover_of_their_row() {
    let mut h = TestHost::new();
    let put = |h: &mut TestHost, id, p| h.apply::<Places>(Encoding::Postcard, &Command::Put(id, p)).expect("put");
    put(&mut h, 1, place(&[3, 5], "ann", "a"));
    put(&mut h, 2, place(&[5], "bob", "b"));
    let e = |c, id, o: &str| (c, id, o.to_string());
    assert_eq!(entries(&mut h), [e(3, 1, "ann"), e(5, 1, "ann"), e(5, 2, "bob")]);
    assert_eq!(h.query::<Places>(Encoding::Postcard, &4).unwrap(), [e(3, 1, "ann")]);

    // Another cover, the same cells: every entry of the row is rewritten.
    put(&mut h, 1, place(&[3, 5], "cy", "a"));
    assert_eq!(entries(&mut h), [e(3, 1, "cy"), e(5, 1, "cy"), e(5, 2, "bob")]);
    // What the index does not cover changes no entry; other cells move them.
    let before = h.store.clone();
    put(&mut h, 1, place(&[3, 5], "cy", "changed"));
    assert_eq!(h.store.iter().filter(|(k, v)| before.get(*k) != Some(*v)).count(), 1, "only the row");
    put(&mut h, 1, place(&[5, 7], "cy", "a"));
    assert_eq!(entries(&mut h), [e(5, 1, "cy"), e(5, 2, "bob"), e(7, 1, "cy")]);

    h.apply::<Places>(Encoding::Postcard, &Command::Delete(1)).expect("deleted");
    assert_eq!(entries(&mut h), [e(5, 2, "bob")]);
    h.apply::<Places>(Encoding::Postcard, &Command::Delete(2)).expect("deleted");
    assert!(h.store.is_empty(), "{:?}", h.store);
}
