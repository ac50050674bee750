/// The header of a `.npy` file, parsed the way NumPy's own reader accepts it (`numpy.lib.format`): a Python
/// dictionary literal with exactly the keys `descr` (a string), `fortran_order` (True or False) and `shape` (a
/// tuple of non-negative integers), a later duplicate key replacing an earlier one as in Python, and nothing after
/// the closing brace but spaces and the newline. Anything else is refused with the reason.
struct NumPyHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    /// NumPy's default `max_header_size`: longer headers are refused unread, as NumPy does.
    static let maximumLength = 10_000

    enum Value: Equatable {
        case string(String), bool(Bool), integers([Int])
    }

    struct Malformed: Error { let reason: String }

    init(parsing text: String) throws {
        var parser = Parser(Array(text.unicodeScalars))
        let entries = try parser.dictionary()
        parser.skipSpace()
        guard parser.atEnd else { throw Malformed(reason: "unexpected text after the header dictionary (is the header length wrong?)") }
        var values: [String: Value] = [:]
        for (key, value) in entries { values[key] = value }   // the last duplicate wins, as in Python
        let expected: Set = ["descr", "fortran_order", "shape"]
        guard Set(values.keys) == expected else {
            let missing = expected.subtracting(values.keys).sorted(), extra = Set(values.keys).subtracting(expected).sorted()
            throw Malformed(reason: missing.isEmpty ? "unexpected header keys \(extra)" : "header lacks \(missing)")
        }
        guard case .string(let descr)? = values["descr"] else { throw Malformed(reason: "'descr' must be a string") }
        guard case .bool(let fortran)? = values["fortran_order"] else { throw Malformed(reason: "'fortran_order' must be True or False") }
        guard case .integers(let shape)? = values["shape"] else { throw Malformed(reason: "'shape' must be a tuple of integers") }
        (self.descr, self.fortranOrder, self.shape) = (descr, fortran, shape)
    }

    /// A recursive-descent reader of the literal subset NumPy writes.
    private struct Parser {
        let scalars: [Unicode.Scalar]
        var position = 0
        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        var atEnd: Bool { position == scalars.count }
        var current: Unicode.Scalar? { atEnd ? nil : scalars[position] }

        /// Spaces, tabs, line breaks, form feeds and `#` comments, as Python's tokenizer skips them.
        mutating func skipSpace() {
            while let c = current {
                if c == " " || c == "\n" || c == "\t" || c == "\r" || c == "\u{0C}" {
                    position += 1
                } else if c == "#" {
                    while let d = current, d != "\n" { position += 1 }
                } else {
                    return
                }
            }
        }

        mutating func expect(_ c: Unicode.Scalar, _ what: String) throws {
            skipSpace()
            guard current == c else { throw Malformed(reason: "expected \(what) at header offset \(position)") }
            position += 1
        }

        mutating func dictionary() throws -> [(String, Value)] {
            try expect("{", "'{'")
            var entries: [(String, Value)] = []
            while true {
                skipSpace()
                if current == "}" { position += 1; return entries }
                guard case .string(let key) = try value() else { throw Malformed(reason: "header keys must be strings") }
                try expect(":", "':'")
                entries.append((key, try value()))
                skipSpace()
                if current == "," { position += 1; continue }
                try expect("}", "',' or '}'")
                return entries
            }
        }

        mutating func value() throws -> Value {
            skipSpace()
            switch current {
            case "'", "\"": return .string(try string())
            case "(": return .integers(try tuple())
            case "T", "F":
                for (word, flag) in [("True", true), ("False", false)] where matches(word) {
                    position += word.unicodeScalars.count
                    return .bool(flag)
                }
            default: break
            }
            throw Malformed(reason: "unsupported value at header offset \(position)")
        }

        func matches(_ word: String) -> Bool {
            let w = Array(word.unicodeScalars)
            return position + w.count <= scalars.count && Array(scalars[position..<(position + w.count)]) == w
        }

        mutating func string() throws -> String {
            let quote = scalars[position]
            position += 1
            var text = String.UnicodeScalarView()
            while let c = current, c != quote {
                guard c != "\\", c != "\n" else { throw Malformed(reason: "escapes and line breaks in header strings are not supported") }
                text.append(c)
                position += 1
            }
            guard current == quote else { throw Malformed(reason: "unterminated string in the header") }
            position += 1
            return String(text)
        }

        /// `()`, `(n,)` or `(n, m, ...)` (a trailing comma allowed).
        mutating func tuple() throws -> [Int] {
            position += 1
            var items: [Int] = []
            while true {
                skipSpace()
                if current == ")" { position += 1; return items }
                items.append(try integer())
                skipSpace()
                if current == "," { position += 1; continue }
                try expect(")", "',' or ')' in the shape")
                // Python reads `(3)` as the integer 3, not a tuple, and NumPy refuses it as a shape.
                guard items.count != 1 else { throw Malformed(reason: "a one-element shape needs a trailing comma, as in (3,)") }
                return items
            }
        }

        /// A decimal integer with an optional sign (Python reads `-0` as 0; a negative extent is refused later).
        mutating func integer() throws -> Int {
            var digits = ""
            if current == "-" {
                digits = "-"
                position += 1
            }
            while let c = current, ("0"..."9").contains(c) {
                digits.unicodeScalars.append(c)
                position += 1
            }
            guard digits != "", digits != "-" else { throw Malformed(reason: "shape entries must be integers") }
            guard let value = Int(digits) else { throw Malformed(reason: "shape entry \(digits) is too large") }
            return value
        }
    }
}
