//! A covering index: its entries carry what it covers of their row, kept current when the
//! row's keys or its cover change, and gone with the row; read decoded or shown encoded to
//! a visitor.

use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
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

/// Entries of cells `0..=max`: (cell, place, its owner).
type Entries = Vec<(u32, u32, String)>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Query {
    /// Every entry of cells `0..=max`, decoded.
    Covered { max: u32 },
    /// The entries of cells `0..=max` a visitor sees when it breaks after `stop_after`.
    Visited { max: u32, stop_after: usize },
}

const BY_CELL: Index<u32, Place, u32, String> =
    Index::covering("places/by-cell", |p| p.cells.clone(), |p| p.owner.clone());
const PLACES: Table<u32, Place> = Table::new("places").with_indexes(&[&BY_CELL]);

struct Places;

impl Applier for Places {
    const NAME: &'static str = "places";
    const VERSION: &'static str = "0.1.0";
    type Command = Command;
    type Query = Query;
    type Output = ();
    type QueryOutput = Entries;

    fn apply(ctx: &mut Ctx, command: Command) -> Result<(), Error> {
        match command {
            Command::Put(id, place) => PLACES.put(ctx, &id, &place),
            Command::Delete(id) => PLACES.delete(ctx, &id).map(drop),
        }
    }

    fn query(ctx: &Ctx, query: Query) -> Result<Entries, Error> {
        match query {
            Query::Covered { max } => BY_CELL.covered(ctx, 0..=max).collect(),
            Query::Visited { max, stop_after } => {
                let mut seen = Vec::new();
                BY_CELL.visit_covered(ctx, 0..=max, |cell, id, cover| {
                    seen.push((cell, id, BY_CELL.decode_cover(cover).expect("a cover")));
                    if seen.len() == stop_after { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                })?;
                Ok(seen)
            }
        }
    }
}

fn place(cells: &[u32], owner: &str, note: &str) -> Place {
    Place { cells: cells.to_vec(), owner: owner.into(), note: note.into() }
}

fn entries(h: &mut TestHost) -> Entries {
    h.query::<Places>(Encoding::Postcard, &Query::Covered { max: u32::MAX }).expect("answered")
}

#[test]
fn entries_carry_the_cover_of_their_row() {
    let mut h = TestHost::new();
    let put = |h: &mut TestHost, id, p| h.apply::<Places>(Encoding::Postcard, &Command::Put(id, p)).expect("put");
    put(&mut h, 1, place(&[3, 5], "ann", "a"));
    put(&mut h, 2, place(&[5], "bob", "b"));
    let e = |c, id, o: &str| (c, id, o.to_string());
    assert_eq!(entries(&mut h), [e(3, 1, "ann"), e(5, 1, "ann"), e(5, 2, "bob")]);
    assert_eq!(h.query::<Places>(Encoding::Postcard, &Query::Covered { max: 4 }).unwrap(), [e(3, 1, "ann")]);

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

#[test]
fn a_visitor_sees_the_entries_encoded_until_it_breaks() {
    let mut h = TestHost::new();
    for (id, cells, owner) in [(1, &[3, 5][..], "ann"), (2, &[5], "bob"), (3, &[9], "cy")] {
        h.apply::<Places>(Encoding::Postcard, &Command::Put(id, place(cells, owner, "n"))).expect("put");
    }
    let visited = |h: &mut TestHost, max, stop_after| {
        h.query::<Places>(Encoding::Postcard, &Query::Visited { max, stop_after }).expect("answered")
    };
    // The same entries, in the same order, as the decoded reads give.
    assert_eq!(visited(&mut h, u32::MAX, usize::MAX), entries(&mut h));
    assert_eq!(
        visited(&mut h, 5, usize::MAX),
        h.query::<Places>(Encoding::Postcard, &Query::Covered { max: 5 }).unwrap()
    );
    // A break ends the scan there.
    let e = |c, id, o: &str| (c, id, o.to_string());
    assert_eq!(visited(&mut h, u32::MAX, 2), [e(3, 1, "ann"), e(5, 1, "ann")]);
    assert_eq!(visited(&mut h, 2, usize::MAX), []);
}
