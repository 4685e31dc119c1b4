//! What the reading thread hands to the workers: CSV text cut at row ends (`Chunk`), or
//! rows a spreadsheet reader already made (`Block`).

use chrono::NaiveDateTime;

use crate::cell::Cell;

/// A piece of the decoded text that ends where a row ends, so that it can be parsed on its
/// own: how the reading thread hands CSV to the workers.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) seq: u64,
    /// Rows before this chunk (its first row is `rows_before + 1`).
    pub(crate) rows_before: u64,
    pub(crate) text: Vec<u8>,
}

/// What the reading thread hands to the workers: CSV text cut at row ends (parsed by the
/// worker), or rows a spreadsheet reader already made.
#[derive(Debug)]
pub(crate) enum Work {
    Chunk(Chunk),
    Block(Block),
}

/// One cell, stored without borrowing: text lives in the block's byte buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    Text(u32, u32),
    Empty,
    Int(i64),
    Float(f64),
    Bool(bool),
    DateTime(NaiveDateTime),
    Error(u32, u32),
    FormulaNoValue,
    /// A cell longer than the limit: its length in bytes; the bytes are not kept.
    Oversized(u64),
}

/// A block of rows.
#[derive(Debug, Default)]
pub(crate) struct Block {
    /// Position of the block in the file (0, 1, 2, …): blocks are checked in parallel and
    /// merged in this order.
    pub(crate) seq: u64,
    pub(crate) data: Vec<u8>,
    /// `data` once checked to be UTF-8 as a whole (the common case): cells are then sliced
    /// from it without checking each one again.
    text: Option<String>,
    pub(crate) slots: Vec<Slot>,
    /// (physical row number, end index into `slots`).
    pub(crate) rows: Vec<(u64, u32)>,
    /// Per row, the sheet's column its figure came from, when a wide layout made the block
    /// (empty otherwise): issues point at that cell.
    pub(crate) origin: Vec<u32>,
}

/// A view of a cell, or the length of one too long to keep.
#[derive(Debug)]
pub(crate) enum CellView<'a> {
    Cell(Cell<'a>),
    Oversized(u64),
}

impl Block {
    pub(crate) fn with_capacity(bytes: usize, slots: usize) -> Self {
        Self {
            seq: 0,
            data: Vec::with_capacity(bytes),
            text: None,
            slots: Vec::with_capacity(slots),
            rows: Vec::new(),
            origin: Vec::new(),
        }
    }

    /// Ends production: checks the text once, on the reading thread.
    pub(crate) fn seal(&mut self) {
        match String::from_utf8(std::mem::take(&mut self.data)) {
            Ok(s) => self.text = Some(s),
            Err(e) => self.data = e.into_bytes(),
        }
    }

    /// Bytes of text the block holds.
    pub(crate) fn text_len(&self) -> usize {
        self.text.as_ref().map_or(self.data.len(), String::len)
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Appends text to the block's buffer and returns its slot.
    pub(crate) fn text(&mut self, s: &[u8]) -> Slot {
        let start = self.data.len();
        self.data.extend_from_slice(s);
        Slot::Text(offset(start), offset(self.data.len()))
    }

    pub(crate) fn end_row(&mut self, number: u64) {
        self.rows.push((number, offset(self.slots.len())));
    }

    /// Row `i`'s number and slots.
    pub(crate) fn row_slots(&self, i: usize) -> (u64, &[Slot]) {
        let (number, end) = self.rows[i];
        let start = if i == 0 {
            0
        } else {
            self.rows[i - 1].1 as usize
        };
        (number, &self.slots[start..end as usize])
    }

    /// Appends a slot of `from` to this block, its text copied.
    pub(crate) fn copy_slot(&mut self, from: &Block, slot: Slot) {
        let copied = match slot {
            Slot::Text(a, b) => self.text(from.bytes(a, b)),
            Slot::Error(a, b) => match self.text(from.bytes(a, b)) {
                Slot::Text(a, b) => Slot::Error(a, b),
                other => other,
            },
            other => other,
        };
        self.slots.push(copied);
    }

    fn bytes(&self, a: u32, b: u32) -> &[u8] {
        match &self.text {
            Some(s) => s.as_bytes().get(a as usize..b as usize).unwrap_or_default(),
            None => self.data.get(a as usize..b as usize).unwrap_or_default(),
        }
    }

    /// Row `i`: its number and its cells, viewed.
    pub(crate) fn row<'a>(&'a self, i: usize, out: &mut Vec<CellView<'a>>) -> u64 {
        let (number, end) = self.rows[i];
        let start = if i == 0 {
            0
        } else {
            self.rows[i - 1].1 as usize
        };
        out.clear();
        for slot in &self.slots[start..end as usize] {
            out.push(self.view(*slot));
        }
        number
    }

    pub(crate) fn view(&self, slot: Slot) -> CellView<'_> {
        let text = |a: u32, b: u32| match &self.text {
            Some(s) => s.as_bytes().get(a as usize..b as usize).unwrap_or_default(),
            None => self.data.get(a as usize..b as usize).unwrap_or_default(),
        };
        CellView::Cell(match slot {
            Slot::Text(a, b) => match self
                .text
                .as_deref()
                .and_then(|s| s.get(a as usize..b as usize))
            {
                Some(s) => Cell::Str(s),
                None => Cell::Text(text(a, b)),
            },
            Slot::Empty => Cell::Empty,
            Slot::Int(i) => Cell::Int(i),
            Slot::Float(f) => Cell::Float(f),
            Slot::Bool(b) => Cell::Bool(b),
            Slot::DateTime(d) => Cell::DateTime(d),
            Slot::Error(a, b) => Cell::Error(std::str::from_utf8(text(a, b)).unwrap_or("#ERROR")),
            Slot::FormulaNoValue => Cell::FormulaNoValue,
            Slot::Oversized(n) => return CellView::Oversized(n),
        })
    }
}

/// Blocks are at most a few MiB, so offsets fit in u32; saturate rather than wrap.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
