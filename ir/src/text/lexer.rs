//! The tokenizer of the text form: turns source text into tokens with 1-based line:column
//! positions. A lexical error becomes a final [`Tok::Error`] token, so that the parser reports
//! problems in the order they appear in the text.

use std::iter::Peekable;
use std::str::Chars;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A bare word `[A-Za-z_][A-Za-z0-9_]*`: keywords, op names, dtypes, enum values, `_`.
    Word(String),
    /// A value reference `%name` or `%"name"` (the name without `%` and quotes).
    Value(String),
    /// A symbolic dim `?name` or `?"name"`.
    SymDim(String),
    /// A number without sign: digits, optional `.digits`, optional exponent. Kept as text.
    Number(String),
    /// A string literal `"..."` with escapes resolved.
    Str(String),
    /// Raw bytes `hex"..."`.
    Hex(Vec<u8>),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `,`.
    Comma,
    /// `=`.
    Equals,
    /// `:`.
    Colon,
    /// `->`.
    Arrow,
    /// `-` (a sign).
    Minus,
    /// `@` (before a node name).
    At,
    /// End of input.
    Eof,
    /// A lexical error; lexing stops here.
    Error(String),
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Value(v) => format!("value `%{v}`"),
            Tok::SymDim(d) => format!("symbolic dim `?{d}`"),
            Tok::Number(n) => format!("number `{n}`"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Hex(_) => "a hex literal".to_string(),
            Tok::LParen => "`(`".to_string(),
            Tok::RParen => "`)`".to_string(),
            Tok::LBracket => "`[`".to_string(),
            Tok::RBracket => "`]`".to_string(),
            Tok::LBrace => "`{`".to_string(),
            Tok::RBrace => "`}`".to_string(),
            Tok::Comma => "`,`".to_string(),
            Tok::Equals => "`=`".to_string(),
            Tok::Colon => "`:`".to_string(),
            Tok::Arrow => "`->`".to_string(),
            Tok::Minus => "`-`".to_string(),
            Tok::At => "`@`".to_string(),
            Tok::Eof => "end of input".to_string(),
            Tok::Error(m) => m.clone(),
        }
    }
}

/// A token and where it starts (1-based line and column, in characters).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    /// The token.
    pub tok: Tok,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// True for the characters of a bare value or dim name (`%name`, `?name`).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-')
}

/// True when `s` can be written after `%` or `?` without quotes: name characters only, and
/// not ending in `:` (which would swallow the `:` of a type annotation).
pub(crate) fn is_bare_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_name_char) && !s.ends_with(':')
}

/// True when `s` is a bare word (`[A-Za-z_][A-Za-z0-9_]*`).
pub(crate) fn is_word(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    line: usize,
    col: usize,
}

/// Splits `text` into tokens, ending with [`Tok::Eof`] or, at the first lexical error, with a
/// [`Tok::Error`]. A leading byte-order mark is skipped.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lx = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_blank();
        let (line, col) = (lx.line, lx.col);
        let tok = lx.next_token();
        let stop = matches!(tok, Tok::Eof | Tok::Error(_));
        out.push(Token { tok, line, col });
        if stop {
            return out;
        }
    }
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// Skips whitespace and `#` comments.
    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self) -> Tok {
        let Some(c) = self.bump() else {
            return Tok::Eof;
        };
        match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            ',' => Tok::Comma,
            '=' => Tok::Equals,
            ':' => Tok::Colon,
            '@' => Tok::At,
            '-' if self.peek() == Some('>') => {
                self.bump();
                Tok::Arrow
            }
            '-' => Tok::Minus,
            '"' => self.string().map_or_else(Tok::Error, Tok::Str),
            '%' => self.name('%').map_or_else(Tok::Error, Tok::Value),
            '?' => self.name('?').map_or_else(Tok::Error, Tok::SymDim),
            c if c.is_ascii_digit() => self.number(c),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut w = String::from(c);
                while let Some(c) = self
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    w.push(c);
                    self.bump();
                }
                if w == "hex" && self.peek() == Some('"') {
                    self.bump();
                    self.hex().map_or_else(Tok::Error, Tok::Hex)
                } else {
                    Tok::Word(w)
                }
            }
            c => Tok::Error(format!("unexpected character {c:?}")),
        }
    }

    /// A name after `%` or `?`: bare name characters (without trailing `:`) or a string.
    fn name(&mut self, sigil: char) -> Result<String, String> {
        if self.peek() == Some('"') {
            self.bump();
            return self.string();
        }
        let mut s = String::new();
        // A name never ends in `:`; look ahead past colons before taking them.
        loop {
            match self.peek() {
                Some(':') => {
                    let rest: String = self.chars.clone().take_while(|&c| c == ':').collect();
                    let after = self.chars.clone().nth(rest.len());
                    if after.is_some_and(|c| is_name_char(c) && c != ':') {
                        for _ in 0..rest.len() {
                            self.bump();
                        }
                        s.push_str(&rest);
                    } else {
                        break;
                    }
                }
                Some(c) if is_name_char(c) => {
                    s.push(c);
                    self.bump();
                }
                _ => break,
            }
        }
        if s.is_empty() {
            return Err(format!(
                "expected a name or a string after `{sigil}` (quote names with other characters: {sigil}\"...\")"
            ));
        }
        Ok(s)
    }

    /// A number; `first` is its first digit, already consumed.
    fn number(&mut self, first: char) -> Tok {
        let mut s = String::from(first);
        self.digits(&mut s);
        let mut ahead = self.chars.clone();
        if ahead.next() == Some('.') && ahead.next().is_some_and(|c| c.is_ascii_digit()) {
            s.push('.');
            self.bump();
            self.digits(&mut s);
        }
        let mut ahead = self.chars.clone();
        if matches!(ahead.next(), Some('e' | 'E')) {
            let mut sign = ahead.next();
            if matches!(sign, Some('+' | '-')) {
                sign = ahead.next();
            }
            if sign.is_some_and(|c| c.is_ascii_digit()) {
                s.push('e');
                self.bump();
                if let Some(c) = self.peek().filter(|c| matches!(c, '+' | '-')) {
                    s.push(c);
                    self.bump();
                }
                self.digits(&mut s);
            }
        }
        Tok::Number(s)
    }

    fn digits(&mut self, s: &mut String) {
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            s.push(c);
            self.bump();
        }
    }

    /// The rest of a string literal after its opening quote.
    fn string(&mut self) -> Result<String, String> {
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err("unterminated string (missing closing `\"`)".to_string()),
                Some('"') => return Ok(s),
                Some('\\') => s.push(self.escape()?),
                Some(c) => s.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, String> {
        match self.bump() {
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('n') => Ok('\n'),
            Some('t') => Ok('\t'),
            Some('r') => Ok('\r'),
            Some('0') => Ok('\0'),
            Some('u') => {
                if self.bump() != Some('{') {
                    return Err("expected `{` after `\\u` (write `\\u{41}`)".to_string());
                }
                let mut hex = String::new();
                while let Some(c) = self.peek().filter(char::is_ascii_hexdigit) {
                    hex.push(c);
                    self.bump();
                }
                if self.bump() != Some('}') || hex.is_empty() || hex.len() > 6 {
                    return Err("bad `\\u{...}` escape: expected 1 to 6 hex digits and `}`".into());
                }
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("`\\u{{{hex}}}` is not a Unicode scalar value"))
            }
            Some(c) => Err(format!(
                "unknown escape `\\{c}` (use \\\" \\\\ \\n \\t \\r \\0 \\u{{..}})"
            )),
            None => Err("unterminated string (missing closing `\"`)".to_string()),
        }
    }

    /// The rest of a `hex"..."` literal after its opening quote: pairs of hex digits.
    fn hex(&mut self) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let c = self
                .bump()
                .ok_or_else(|| "unterminated hex literal (missing closing `\"`)".to_string())?;
            if c == '"' {
                return match high {
                    None => Ok(bytes),
                    Some(_) => Err("hex literal has an odd number of digits".to_string()),
                };
            }
            let d = c
                .to_digit(16)
                .ok_or_else(|| format!("unexpected character {c:?} in hex literal"))?;
            let d = d as u8;
            match high.take() {
                None => high = Some(d),
                Some(h) => bytes.push(h << 4 | d),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn names_stop_before_a_type_colon() {
        assert_eq!(
            toks("%x: %a::b %c:"),
            vec![
                Tok::Value("x".into()),
                Tok::Colon,
                Tok::Value("a::b".into()),
                Tok::Value("c".into()),
                Tok::Colon,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("%0/layer.1-x ?n"),
            vec![
                Tok::Value("0/layer.1-x".into()),
                Tok::SymDim("n".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers_strings_and_hex() {
        assert_eq!(
            toks("-1.5e-3 2 1e 3.x ->"),
            vec![
                Tok::Minus,
                Tok::Number("1.5e-3".into()),
                Tok::Number("2".into()),
                Tok::Number("1".into()),
                Tok::Word("e".into()),
                Tok::Number("3".into()),
                Tok::Error("unexpected character '.'".into()),
            ]
        );
        assert_eq!(
            toks(r#""a\"\\\n\u{e9}" hex"00fF" # comment"#),
            vec![
                Tok::Str("a\"\\\né".into()),
                Tok::Hex(vec![0, 255]),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions_and_errors() {
        let t = tokenize("graph\n  %\"x\n");
        assert_eq!((t[0].line, t[0].col), (1, 1));
        assert_eq!((t[1].line, t[1].col), (2, 3));
        assert!(matches!(&t[1].tok, Tok::Error(m) if m.contains("unterminated")));
        assert!(matches!(&toks("hex\"abc\"")[0], Tok::Error(m) if m.contains("odd")));
        assert!(matches!(&toks("\"\\q\"")[0], Tok::Error(m) if m.contains("unknown escape")));
        assert!(matches!(&toks("\"\\u{110000}\"")[0], Tok::Error(m) if m.contains("Unicode")));
        assert!(matches!(&toks("% x")[0], Tok::Error(m) if m.contains("after `%`")));
        let t = tokenize("\u{feff}graph");
        assert_eq!(
            (&t[0].tok, t[0].line, t[0].col),
            (&Tok::Word("graph".into()), 1, 1)
        );
    }
}
