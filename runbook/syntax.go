package runbook

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxError turns what the YAML reader refused into a position and words a person acts on.
// The reader names a line and a parser's term ("found character that cannot start any
// token"); people need the column and the cause: a tab used for indentation, a quote never
// closed, a brace never closed, text that is not UTF-8.
func syntaxError(file string, src []byte, err error) *Error {
	if !utf8.Valid(src) {
		return notUTF8(file, src)
	}
	e := &Error{Pos: Pos{File: file}, Msg: "invalid YAML: " + err.Error()}
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return e
	}
	e.Line, _ = strconv.Atoi(m[1])
	msg := m[2]
	e.Msg = "invalid YAML: " + msg
	lines := strings.Split(string(src), "\n")
	line := func(n int) string {
		if n < 1 || n > len(lines) {
			return ""
		}
		return lines[n-1]
	}
	if e.Line > 0 {
		e.Column = firstColumn(line(e.Line))
	}
	switch {
	case strings.Contains(msg, "found character that cannot start any token"):
		if col := tabIndent(line(e.Line)); col > 0 {
			e.Column = col
			e.Msg = "invalid YAML: tab character used for indentation; YAML indents with spaces"
		}
	case strings.Contains(msg, "found unexpected end of stream"), strings.Contains(msg, "while scanning a quoted scalar"):
		if n, col, q := unclosedQuote(lines, e.Line); n > 0 {
			e.Line, e.Column = n, col
			e.Msg = fmt.Sprintf("invalid YAML: unclosed quote: the %s string that starts here never ends", q)
		}
	case strings.Contains(msg, "did not find expected ',' or '}'"), strings.Contains(msg, "did not find expected ',' or ']'"):
		open, close := "{", "}"
		if strings.HasSuffix(msg, "']'") {
			open, close = "[", "]"
		}
		if n, col := unclosedBracket(lines, open[0], close[0]); n > 0 {
			e.Line, e.Column = n, col
		}
		e.Msg = fmt.Sprintf("invalid YAML: %s opened here is never closed (a missing %s, or a missing comma between items)", open, close)
	case strings.Contains(msg, "mapping values are not allowed in this context"):
		e.Msg = "invalid YAML: a \"key: value\" where none can stand: this line is indented more than the keys above it, or a value holding \": \" needs quotes"
	case strings.Contains(msg, "did not find expected key"):
		e.Msg = "invalid YAML: this line does not line up with the keys above it (check its indentation)"
	case strings.Contains(msg, "did not find expected '-' indicator"):
		e.Msg = "invalid YAML: the lines of this list do not line up (check the indentation of its items' keys)"
	case strings.Contains(msg, "could not find expected ':'"):
		e.Msg = "invalid YAML: a line inside a mapping without \"key: value\" (a missing colon, or wrong indentation)"
	}
	return e
}

// notUTF8 names the first byte that is not UTF-8 text.
func notUTF8(file string, src []byte) *Error {
	off := 0
	for off < len(src) {
		r, size := utf8.DecodeRune(src[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	lineStart := bytes.LastIndexByte(src[:off], '\n') + 1
	return &Error{
		Pos: Pos{File: file, Line: bytes.Count(src[:off], []byte{'\n'}) + 1, Column: utf8.RuneCount(src[lineStart:off]) + 1},
		Msg: fmt.Sprintf("the file is not UTF-8 text (byte 0x%02x); save it as UTF-8", src[off]),
	}
}

// firstColumn is the column of a line's first character that is not a space.
func firstColumn(s string) int {
	return len(s) - len(strings.TrimLeft(s, " ")) + 1
}

// tabIndent is the column of a tab among a line's leading blanks, 0 when there is none.
func tabIndent(s string) int {
	for i, c := range s {
		switch c {
		case '\t':
			return i + 1
		case ' ':
			continue
		}
		return 0
	}
	return 0
}

// unclosedQuote finds the quote that opens a string never closed: the reader reports the end
// of the file, or the line the string starts on. It scans from that line (or the top) for a
// quote whose string does not end on its line, outside comments and other strings.
func unclosedQuote(lines []string, from int) (line, col int, kind string) {
	if from < 1 || from > len(lines) {
		from = 1
	}
	for n := from; n <= len(lines); n++ {
		s := lines[n-1]
		var open rune
		at := 0
	scan:
		for i, c := range s {
			switch {
			case open == 0 && c == '#' && (i == 0 || s[i-1] == ' '):
				break scan
			case open == 0 && (c == '"' || c == '\''):
				open, at = c, i
			case open == '"' && c == '"' && s[i-1] != '\\', open == '\'' && c == '\'':
				open = 0
			}
		}
		switch open {
		case '"':
			return n, utf8.RuneCountInString(s[:at]) + 1, "double-quoted"
		case '\'':
			return n, utf8.RuneCountInString(s[:at]) + 1, "single-quoted"
		}
	}
	return 0, 0, ""
}

// unclosedBracket finds the flow mapping or sequence ({ } or [ ]) left open: the innermost
// one still open when a line starts a new top-level key, or at the end of the file.
func unclosedBracket(lines []string, open, close byte) (line, col int) {
	var stack [][2]int
	for n, s := range lines {
		if len(stack) > 0 && s != "" && s[0] != ' ' && s[0] != '#' {
			break
		}
		var quote byte
	scan:
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '#' && (i == 0 || s[i-1] == ' '):
				break scan
			case c == open:
				stack = append(stack, [2]int{n + 1, i + 1})
			case c == close && len(stack) > 0:
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) == 0 {
		return 0, 0
	}
	return stack[len(stack)-1][0], stack[len(stack)-1][1]
}
