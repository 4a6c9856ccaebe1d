//! Reading an Avro body by hand, for the records whose layout Docket knows (their own
//! schema): zigzag varints, length-prefixed UTF-8 strings, enum and `["null", T]` union
//! indexes, and arrays in blocks, each checked as the generic decoding checks it. Errors name
//! the field and say what is wrong.

pub(crate) struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Self { body, at: 0 }
    }

    /// Nothing may be left after the record.
    pub(crate) fn end(&self) -> Result<(), String> {
        match self.body.len() - self.at {
            0 => Ok(()),
            left => Err(format!("{left} bytes left after the record")),
        }
    }

    /// A zigzag varint of at most ten bytes.
    pub(crate) fn long(&mut self, field: &str) -> Result<i64, String> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.body.get(self.at) else {
                return Err(format!("{field}: the body ends inside a number"));
            };
            self.at += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(format!("{field}: a number longer than ten bytes"))
    }

    /// A long in the `int` range.
    pub(crate) fn int(&mut self, field: &str) -> Result<i32, String> {
        let value = self.long(field)?;
        i32::try_from(value).map_err(|_| format!("{field} {value} is not an int"))
    }

    fn length(&mut self, field: &str) -> Result<usize, String> {
        let len = self.long(field)?;
        let left = self.body.len() - self.at;
        match usize::try_from(len) {
            Ok(len) if len <= left => Ok(len),
            _ => Err(format!("{field}: length {len} with {left} bytes left")),
        }
    }

    pub(crate) fn string(&mut self, field: &str) -> Result<&'a str, String> {
        let len = self.length(field)?;
        let bytes = &self.body[self.at..self.at + len];
        self.at += len;
        std::str::from_utf8(bytes).map_err(|e| format!("{field}: not UTF-8: {e}"))
    }

    /// An enum's symbol index, below `symbols`.
    pub(crate) fn enumeration(&mut self, field: &str, symbols: usize) -> Result<usize, String> {
        let index = self.long(field)?;
        match usize::try_from(index) {
            Ok(i) if i < symbols => Ok(i),
            _ => Err(format!("{field}: no symbol at index {index}")),
        }
    }

    /// A `["null", T]` union's branch: whether it is `T`.
    fn union(&mut self, field: &str) -> Result<bool, String> {
        match self.long(field)? {
            0 => Ok(false),
            1 => Ok(true),
            index => Err(format!("{field}: no union branch at index {index}")),
        }
    }

    /// A `["null", T]` union's value, read by `read` when it is `T`.
    pub(crate) fn optional<T>(
        &mut self,
        field: &str,
        read: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        match self.union(field)? {
            true => read(self).map(Some),
            false => Ok(None),
        }
    }

    pub(crate) fn optional_string(&mut self, field: &str) -> Result<Option<&'a str>, String> {
        self.optional(field, |r| r.string(field))
    }

    /// An array: blocks of a count and that many items (a negative count is followed by the
    /// block's size in bytes), ended by an empty block.
    pub(crate) fn array(
        &mut self,
        field: &str,
        mut item: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        loop {
            let count = self.long(field)?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                self.long(field)?;
            }
            for _ in 0..count.unsigned_abs() {
                if self.at >= self.body.len() {
                    return Err(format!("{field}: the body ends inside the array"));
                }
                item(self)?;
            }
        }
    }

    /// An array's items, read by `item`.
    pub(crate) fn items<T>(
        &mut self,
        field: &str,
        mut item: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let mut items = Vec::new();
        self.array(field, |r| {
            items.push(item(r)?);
            Ok(())
        })?;
        Ok(items)
    }
}
