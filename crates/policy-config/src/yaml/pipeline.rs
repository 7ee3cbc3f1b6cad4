//! Reading a large input on two threads: one scans it (saphyr's events, with plain scalars
//! already resolved), this one builds the document from them as they come.
//!
//! Owns the hand-over (batches of [`Piece`]s over a bounded channel, emptied batches sent back
//! for reuse) and the builder's side of it. What the events are is the readers' business;
//! what the document is, the builder's.

use super::builder::{Build, ParserItem};
use super::error::YamlError;
use super::scalars::resolve_untagged;
use super::spans::{Document, ScalarKind};
use saphyr_parser::{Event, Span};
use serde_json::Value;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Inputs at least this large are read on a second thread while this one builds the tree:
/// scanning is about two thirds of the cost, and resolving scalars on the scanning side
/// evens the two out. Below it, a thread costs more than it saves.
pub(super) const MIN_BYTES: usize = 256 * 1024;

/// Pieces handed over at once: large enough that the channel costs nothing per event, small
/// enough that building starts early.
const BATCH: usize = 512;

/// Batches in flight at once: a deeper queue would only hold more memory (every page of which
/// the kernel must zero first) while the slower side catches up.
const IN_FLIGHT: usize = 4;

/// What the reading thread hands the building one: an event, or a scalar it resolved itself.
pub(super) enum Piece<'a> {
    Event(ParserItem<'a>),
    Scalar(Value, ScalarKind, Span),
}

impl<'a> Piece<'a> {
    /// `item`, with an untagged, unanchored scalar resolved here (on the reading thread),
    /// which takes that work off the builder.
    pub(super) fn resolving(item: ParserItem<'a>) -> Piece<'a> {
        match item {
            Ok((Event::Scalar(text, style, 0, None), span)) => {
                let (value, kind) = resolve_untagged(text, style);
                Piece::Scalar(value, kind, span)
            }
            other => Piece::Event(other),
        }
    }
}

type Batch<'a> = Vec<Piece<'a>>;

/// The reading thread's end of the hand-over.
pub(super) struct Batches<'a> {
    batch: Batch<'a>,
    tx: SyncSender<Batch<'a>>,
    empty: Receiver<Batch<'a>>,
}

impl<'a> Batches<'a> {
    /// Hand `piece` over (a batch at a time). `false` once the builder has stopped at an
    /// error: reading on is wasted.
    pub(super) fn send(&mut self, piece: Piece<'a>) -> bool {
        self.batch.push(piece);
        if self.batch.len() < BATCH {
            return true;
        }
        let next = self.empty.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        self.tx.send(full).is_ok()
    }
}

/// Build a document on this thread from what `read` sends on a second one: the builder's
/// answer, the first error it stopped at included.
pub(super) fn build_beside<'a>(read: impl FnOnce(&mut Batches<'a>) + Send) -> Result<Document, Vec<YamlError>> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Batch<'a>>(IN_FLIGHT);
        let (back, empty) = sync_channel::<Batch<'a>>(IN_FLIGHT + 2);
        let reading = scope.spawn(move || {
            let mut sink = Batches {
                batch: Vec::with_capacity(BATCH),
                tx,
                empty,
            };
            read(&mut sink);
            // Fails only if the builder stopped at an error, which it then reports.
            let _ = sink.tx.send(sink.batch);
        });
        let mut build = Build::default();
        let mut failed = None;
        'batches: for mut batch in rx {
            for piece in batch.drain(..) {
                let fed = match piece {
                    Piece::Event(item) => build.feed(item),
                    Piece::Scalar(value, kind, span) => build.feed_resolved(value, kind, span),
                };
                if let Err(errors) = fed {
                    failed = Some(errors);
                    break 'batches;
                }
            }
            // Full (the reader has enough) or gone (it finished): either way nothing is lost.
            let _ = back.try_send(batch);
        }
        // Leaving the loop dropped the receiver, so after an error the reader's next send fails.
        reading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match failed {
            Some(errors) => Err(errors),
            None => build.finish(),
        }
    })
}
