//! Writing an Avro body by hand, for the records whose layout Docket knows (their own
//! schema), as apache-avro writes it: zigzag varints, length-prefixed strings, enum and
//! `["null", T]` union indexes, and each array as one block followed by the empty block.

pub(crate) struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }

    /// A zigzag varint.
    pub(crate) fn long(&mut self, n: i64) {
        let mut v = ((n << 1) ^ (n >> 63)) as u64;
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    pub(crate) fn int(&mut self, n: i32) {
        self.long(i64::from(n));
    }

    pub(crate) fn string(&mut self, s: &str) {
        self.long(s.len() as i64);
        self.out.extend_from_slice(s.as_bytes());
    }

    /// The index of an enum's symbol.
    pub(crate) fn symbol<T: PartialEq>(&mut self, value: &T, symbols: &[T]) {
        let i = symbols
            .iter()
            .position(|s| s == value)
            .expect("every value is among its schema's symbols");
        self.long(i as i64);
    }

    /// A `["null", T]` union.
    pub(crate) fn optional<T>(&mut self, value: Option<&T>, write: impl FnOnce(&mut Self, &T)) {
        match value {
            None => self.long(0),
            Some(v) => {
                self.long(1);
                write(self, v);
            }
        }
    }

    pub(crate) fn optional_string(&mut self, value: Option<&String>) {
        self.optional(value, |w, s| w.string(s));
    }

    /// An array: its items in one block, then the empty block.
    pub(crate) fn items<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        if !items.is_empty() {
            self.long(items.len() as i64);
            for item in items {
                write(self, item);
            }
        }
        self.long(0);
    }
}
