//! A small applier written only against the SDK (tables, a secondary index, ids, time,
//! caller, typed errors), run through `TestHost` in both encodings.

use serde::{Deserialize, Serialize};
use wasmraft_sdk::testing::TestHost;
use wasmraft_sdk::{Applier, Caller, Ctx, Encoding, Error, Id, Index, Table, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    author: String,
    text: String,
    tags: Vec<String>,
    created: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Command {
    Write { text: String, tags: Vec<String> },
    Retag { id: Id, tags: Vec<String> },
    Erase { id: Id },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Query {
    Tagged {
        tag: String,
    },
    /// Notes created in `(after, until]`.
    Between {
        after: Timestamp,
        until: Timestamp,
    },
    Since {
        after: Timestamp,
    },
    All,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Output {
    Written { id: Id },
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Found {
    ids: Vec<Id>,
}

const BY_TAG: Index<Id, Note, String> = Index::new("notes/tag", |n| n.tags.clone());
const BY_TIME: Index<Id, Note, Timestamp> = Index::new("notes/time", |n| vec![n.created]);
const NOTES: Table<Id, Note> = Table::new("notes").with_indexes(&[&BY_TAG, &BY_TIME]);

fn author(ctx: &Ctx) -> Result<String, Error> {
    ctx.caller().map(|c| c.subject.clone()).ok_or_else(|| Error::permission_denied("notes need an author"))
}

fn owned(ctx: &Ctx, id: &Id) -> Result<Note, Error> {
    let note = NOTES.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("note {id}")))?;
    if note.author != author(ctx)? {
        return Err(Error::permission_denied(format!("note {id} is not yours")).with_body(note.author));
    }
    Ok(note)
}

struct Notes;

impl Applier for Notes {
    const NAME: &'static str = "notes";
    const VERSION: &'static str = "0.1.0";
    type Command = Command;
    type Query = Query;
    type Output = Output;
    type QueryOutput = Found;

    fn apply(ctx: &mut Ctx, command: Command) -> Result<Output, Error> {
        match command {
            Command::Write { text, tags } => {
                let id = ctx.new_id();
                let note = Note { author: author(ctx)?, text, tags, created: ctx.now() };
                NOTES.put(ctx, &id, &note)?;
                Ok(Output::Written { id })
            }
            Command::Retag { id, tags } => {
                let note = owned(ctx, &id)?;
                NOTES.put(ctx, &id, &Note { tags, ..note })?;
                Ok(Output::Done)
            }
            Command::Erase { id } => {
                owned(ctx, &id)?;
                NOTES.delete(ctx, &id)?;
                Ok(Output::Done)
            }
        }
    }

    fn query(ctx: &Ctx, query: Query) -> Result<Found, Error> {
        let ids = match query {
            Query::Tagged { tag } => BY_TAG.lookup(ctx, &tag).collect::<Result<_, _>>()?,
            Query::Since { after } => {
                BY_TIME.range(ctx, after..).map(|r| r.map(|(_, id)| id)).collect::<Result<_, _>>()?
            }
            Query::Between { after, until } => {
                let bounds = (std::ops::Bound::Excluded(after), std::ops::Bound::Included(until));
                BY_TIME.range(ctx, bounds).map(|r| r.map(|(_, id)| id)).collect::<Result<_, _>>()?
            }
            Query::All => NOTES.iter(ctx).map(|r| r.map(|(id, _)| id)).collect::<Result<_, _>>()?,
        };
        Ok(Found { ids })
    }
}

fn host(subject: &str) -> TestHost {
    let mut h = TestHost::new();
    h.set_caller(Some(Caller { subject: subject.into(), scopes: vec![] }));
    h
}

fn write(h: &mut TestHost, enc: Encoding, text: &str, tags: &[&str]) -> Id {
    let tags = tags.iter().map(|t| t.to_string()).collect();
    match h.apply::<Notes>(enc, &Command::Write { text: text.into(), tags }).unwrap() {
        Output::Written { id } => id,
        other => panic!("{other:?}"),
    }
}

fn sorted(mut ids: Vec<Id>) -> Vec<Id> {
    ids.sort();
    ids
}

#[test]
fn typed_commands_round_trip_in_both_encodings() {
    for enc in [Encoding::Postcard, Encoding::Json] {
        let mut h = host("alice");
        h.set_time(100);
        let a = write(&mut h, enc, "first", &["x", "y"]);
        h.set_time(200);
        let b = write(&mut h, enc, "second", &["y"]);
        assert!(a.is_v4() && b.is_v4() && a != b);

        let tagged =
            |h: &mut TestHost, tag: &str| h.query::<Notes>(enc, &Query::Tagged { tag: tag.into() }).unwrap().ids;
        assert_eq!(tagged(&mut h, "x"), vec![a]);
        assert_eq!(sorted(tagged(&mut h, "y")), sorted(vec![a, b]));

        // Retagging moves the index entries; erasing removes them.
        h.apply::<Notes>(enc, &Command::Retag { id: a, tags: vec!["z".into()] }).unwrap();
        assert_eq!(tagged(&mut h, "x"), vec![]);
        assert_eq!(tagged(&mut h, "y"), vec![b]);
        assert_eq!(tagged(&mut h, "z"), vec![a]);
        let since = h.query::<Notes>(enc, &Query::Since { after: Timestamp(150) }).unwrap().ids;
        assert_eq!(since, vec![b]);
        h.apply::<Notes>(enc, &Command::Erase { id: b }).unwrap();
        assert_eq!(h.query::<Notes>(enc, &Query::All).unwrap().ids, vec![a]);
        assert_eq!(tagged(&mut h, "y"), vec![]);
    }
}

#[test]
fn errors_carry_codes_and_typed_bodies_and_change_nothing() {
    for enc in [Encoding::Postcard, Encoding::Json] {
        let mut h = host("alice");
        let id = write(&mut h, enc, "mine", &["t"]);
        let before = h.store.clone();
        h.set_caller(Some(Caller { subject: "mallory".into(), scopes: vec![] }));
        let err = h.apply::<Notes>(enc, &Command::Erase { id }).unwrap_err();
        assert_eq!(err.code, "permission-denied");
        let owner: String = wasmraft_sdk::codec::decode(enc, err.body.as_deref().unwrap()).unwrap();
        assert_eq!(owner, "alice");
        assert_eq!(h.store, before);
        h.set_caller(None);
        assert_eq!(
            h.apply::<Notes>(enc, &Command::Write { text: "x".into(), tags: vec![] }).unwrap_err().code,
            "permission-denied"
        );
        assert_eq!(h.store, before);
    }
}

#[test]
fn ids_are_a_function_of_the_entry() {
    let mut a = host("alice");
    let mut b = host("alice");
    assert_eq!(write(&mut a, Encoding::Json, "n", &[]), write(&mut b, Encoding::Postcard, "n", &[]));
    assert_ne!(write(&mut a, Encoding::Json, "n", &[]), write(&mut a, Encoding::Json, "n", &[]));
}

#[test]
fn index_ranges_honour_exclusive_starts_and_inclusive_ends() {
    let mut h = host("alice");
    let mut ids = Vec::new();
    for t in [100, 200, 300] {
        h.set_time(t);
        ids.push(write(&mut h, Encoding::Postcard, "note", &[]));
    }
    let between = |h: &mut TestHost, after: u64, until: u64| {
        let q = Query::Between { after: Timestamp(after), until: Timestamp(until) };
        h.query::<Notes>(Encoding::Postcard, &q).unwrap().ids
    };
    // An index entry is `time ‖ id`: the bounds must take in every id at a bound's time.
    assert_eq!(between(&mut h, 100, 200), vec![ids[1]]);
    assert_eq!(between(&mut h, 99, 300), ids);
    assert_eq!(between(&mut h, 300, 400), vec![]);
}
