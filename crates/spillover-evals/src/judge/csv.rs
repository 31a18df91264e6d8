//! A small RFC 4180 CSV reader that keeps line and column numbers for error messages.
//!
//! Fields are separated by `,`, records by `\n` or `\r\n`; a field that starts with `"` is
//! quoted and may contain commas, newlines and `""` (an escaped quote). Blank lines are skipped,
//! and so are lines starting with `#` before the header (PyRIT's files start with comments).

/// One record: its fields and the 1-based line on which it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A syntax error at a 1-based line and character column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub column: usize,
    pub msg: String,
}

/// Parses `text` into records (the header is the first one).
pub fn parse(text: &str) -> Result<Vec<Record>, CsvError> {
    let mut p = Parser {
        chars: text.chars().peekable(),
        line: 1,
        column: 1,
    };
    let mut records = Vec::new();
    while p.chars.peek().is_some() {
        if records.is_empty() && p.chars.peek() == Some(&'#') {
            p.skip_line();
            continue;
        }
        let line = p.line;
        let fields = p.record()?;
        if !(fields.len() == 1 && fields[0].is_empty()) {
            records.push(Record { line, fields });
        }
    }
    Ok(records)
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    column: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.next() {
            if c == '\n' {
                break;
            }
        }
    }

    /// Reads one record, consuming its line ending.
    fn record(&mut self) -> Result<Vec<String>, CsvError> {
        let mut fields = Vec::new();
        loop {
            let (field, end) = if self.chars.peek() == Some(&'"') {
                self.quoted()?
            } else {
                self.unquoted()
            };
            fields.push(field);
            if end {
                return Ok(fields);
            }
        }
    }

    /// An unquoted field; returns it and whether the record ended after it.
    fn unquoted(&mut self) -> (String, bool) {
        let mut s = String::new();
        loop {
            match self.next() {
                None | Some('\n') => return (strip_cr(s), true),
                Some(',') => return (s, false),
                Some(c) => s.push(c),
            }
        }
    }

    /// A quoted field starting at the current `"`.
    fn quoted(&mut self) -> Result<(String, bool), CsvError> {
        let (line, column) = (self.line, self.column);
        self.next();
        let mut s = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(CsvError {
                        line,
                        column,
                        msg: "quoted field is never closed (missing `\"`)".into(),
                    })
                }
                Some('"') if self.chars.peek() == Some(&'"') => {
                    self.next();
                    s.push('"');
                }
                Some('"') => break,
                Some(c) => s.push(c),
            }
        }
        if self.chars.peek() == Some(&'\r') {
            self.next();
        }
        match self.next() {
            None | Some('\n') => Ok((s, true)),
            Some(',') => Ok((s, false)),
            Some(c) => Err(CsvError {
                line: self.line,
                column: self.column - 1,
                msg: format!("unexpected {c:?} after a closing quote (expected `,` or a line end)"),
            }),
        }
    }
}

/// One record as a CSV line ending in `\n`: every field quoted and its `"` doubled, so commas,
/// quotes and line breaks survive a round trip through [`parse`].
pub fn write_row<S: AsRef<str>>(fields: &[S]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| format!("\"{}\"", f.as_ref().replace('"', "\"\"")))
        .collect();
    quoted.join(",") + "\n"
}

fn strip_cr(mut s: String) -> String {
    if s.ends_with('\r') {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        parse(text).unwrap().into_iter().map(|r| r.fields).collect()
    }

    #[test]
    fn quoted_fields_keep_commas_newlines_and_escaped_quotes() {
        let got = fields("a,b\r\n\"x, \"\"y\"\"\nz\",2\n\n3,\n");
        assert_eq!(
            got,
            vec![vec!["a", "b"], vec!["x, \"y\"\nz", "2"], vec!["3", ""]]
        );
    }

    #[test]
    fn records_know_their_starting_line_and_leading_comments_are_skipped() {
        let recs = parse("# a comment\n# another\nh1,h2\n\"multi\nline\",1\nlast,2").unwrap();
        let lines: Vec<usize> = recs.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 6]);
        assert_eq!(recs[2].fields, vec!["last", "2"]);
    }

    #[test]
    fn written_rows_parse_back_unchanged() {
        let rows = [
            vec!["id", "reply"],
            vec!["a,1", "He said \"no\",\nthen left.\r\n"],
            vec!["", "#not a comment"],
        ];
        let text: String = rows.iter().map(|r| write_row(r)).collect();
        assert_eq!(fields(&text), rows);
    }

    #[test]
    fn a_hash_after_the_header_is_data() {
        assert_eq!(fields("h\n#1\n"), vec![vec!["h"], vec!["#1"]]);
    }

    #[test]
    fn an_unclosed_quote_is_reported_where_it_opens() {
        let e = parse("h1,h2\nok,\"never closed\nmore\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4));
    }

    #[test]
    fn text_after_a_closing_quote_is_an_error_with_its_position() {
        let e = parse("h1,h2\n\"a\"b,c\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4));
    }
}
