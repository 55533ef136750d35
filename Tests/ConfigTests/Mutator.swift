import Foundation

/// Mutations of a YAML text for the config fuzzer: one to four stacked per case.
struct Mutator {
    let base: [UInt8]

    /// Values of every type and edge: numbers out of range, NaN, huge, strings, lists, mappings,
    /// tags, anchors, block scalars, endpoints, control and non-ASCII characters.
    static let values = ["-1", "0", "1", "65536", "99999999999999999999", "1e309", "-1e-320", "nan", ".nan", ".inf", "-.inf",
                         "0x1F", "0o17", "1_000", "+5", "-0", "0.5", "1.01", "true", "no", "null", "~", "''", "\"\"",
                         "[1, 2]", "{a: 1}", "[]", "{}", "!!binary aGVsbG8=", "!!int 5", "!custom x", "&a 5", "*a", "*undefined",
                         "\"\\0\"", "\"a\\tb\"", "\"\\u2028\"", "'it''s'", "|\n  block\n  text", ">-\n  folded", "2026-01-01",
                         "999.1.1.1:1", "[::1]:80", "\"[::1]:80\"", "127.0.0.1:99999", "localhost:9464", "/dev/null", "/etc/passwd",
                         "\"ünïcødé 😀\"", "a#b", "a/b/#", "x+y", "- item", "? key", ": v", "@x", "`x", "%x", "a: b", "\"unterminated",
                         "'unterminated", "[unclosed", "{unclosed: 1", "<<: *a"]

    func mutate<R: RandomNumberGenerator>(_ rng: inout R) -> [UInt8] {
        var b = base
        for _ in 0..<Int.random(in: 1...4, using: &rng) { b = step(b, &rng) }
        return b
    }

    func step<R: RandomNumberGenerator>(_ b: [UInt8], _ rng: inout R) -> [UInt8] {
        var lines = Self.split(b)
        let i = Int.random(in: 0..<lines.count, using: &rng)
        func joined() -> [UInt8] { Self.join(lines) }
        switch Int.random(in: 0..<16, using: &rng) {
        case 0, 1:   // misspell a key
            guard let colon = lines[i].firstIndex(of: 0x3A), colon > 0 else { return b }
            let lo = lines[i].firstIndex { $0 != 0x20 } ?? 0
            guard lo < colon else { return b }
            let at = Int.random(in: lo..<colon, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: lines[i].remove(at: at)
            case 1: lines[i].insert(UInt8.random(in: 0x61...0x7A, using: &rng), at: at)
            case 2 where at + 1 < colon: lines[i].swapAt(at, at + 1)
            default: lines[i][at] = UInt8.random(in: 0x2D...0x7A, using: &rng)
            }
            return joined()
        case 2, 3, 4:   // replace a value with one of another type or range
            guard let colon = lines[i].firstIndex(of: 0x3A) else { return b }
            let v = Self.values.randomElement(using: &rng)!
            let indent = String(repeating: " ", count: (lines[i].firstIndex { $0 != 0x20 } ?? 0) + 2)
            lines[i] = Array(lines[i][...colon]) + Array((" " + v.replacingOccurrences(of: "\n", with: "\n" + indent)).utf8)
            return joined()
        case 5:   // delete, duplicate or swap lines
            let j = Int.random(in: 0..<lines.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: j)
            default: lines.swapAt(i, j)
            }
            return joined()
        case 6:   // re-indent a line (spaces or a tab)
            let n = lines[i].prefix { $0 == 0x20 }.count
            let new = Int.random(in: 0...8, using: &rng)
            lines[i] = (Bool.random(using: &rng) ? [UInt8](repeating: 0x20, count: new) : [0x09]) + lines[i].dropFirst(n)
            return joined()
        case 7:   // flow nesting, mostly shallow, sometimes thousands deep
            let n = Bool.random(using: &rng) ? Int.random(in: 1...80, using: &rng) : Int.random(in: 1...20000, using: &rng)
            let (open, close): (String, String) = Bool.random(using: &rng) ? ("[", "]") : ("{a: ", "}")
            let closing = Bool.random(using: &rng) ? String(repeating: close, count: n) : ""
            lines[i] += Array((" " + String(repeating: open, count: n) + "x" + closing).utf8)
            return joined()
        case 8:   // block nesting: compact sequences or indented mappings
            let n = Int.random(in: 1...(Bool.random(using: &rng) ? 80 : 3000), using: &rng)
            let deep = Bool.random(using: &rng) ? String(repeating: "- ", count: n) + "x"
                : (0..<min(n, 300)).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n")
            lines.insert(Array(deep.utf8), at: i)
            return joined()
        case 9:   // raw bytes: invalid UTF-8, NUL, controls, BOM, CR, NEL/LS/PS breaks
            let pool: [[UInt8]] = [[0xFF], [0xC3], [0x00], [0x07], [0x1B], [0xEF, 0xBB, 0xBF], [0x0D], [0x0D, 0x0A],
                                   [0xC2, 0x85], [0xE2, 0x80, 0xA8], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x09]]
            var out = b
            out.insert(contentsOf: pool.randomElement(using: &rng)!, at: Int.random(in: 0...out.count, using: &rng))
            return out
        case 10:   // re-encode the whole text
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                var out: [UInt8] = [0xFF, 0xFE]
                for u in String(decoding: b, as: UTF8.self).utf16 { out.append(UInt8(u & 0xFF)); out.append(UInt8(u >> 8)) }
                return out
            case 1: return Self.join(Self.split(b), separator: [0x0D, 0x0A])
            default: return b.map { $0 == 0x0A ? 0x0D : $0 }
            }
        case 11:   // sizes: repeated text, long lines, over the 1 MiB limit
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return Self.join(Array(repeating: b, count: Int.random(in: 2...20, using: &rng)), separator: [])
            case 1: lines[i] += [UInt8](repeating: 0x61, count: Int.random(in: 1...100_000, using: &rng)); return joined()
            case 2: return b + Array("# ".utf8) + [UInt8](repeating: 0x78, count: (1 << 20) + Int.random(in: -4...4, using: &rng))
            default: return b + Array("\(String(repeating: "x", count: Int.random(in: 1...70_000, using: &rng))): 1\n".utf8)
            }
        case 12:   // anchors and aliases (a small billion-laughs)
            let bomb = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
                + "d: [*c, *c, *c, *c, *c, *c, *c, *c]\ncamera: *c\n"
            return Bool.random(using: &rng) ? Array(bomb.utf8) : b + Array(("\n" + bomb).utf8)
        case 13:   // documents and directives
            let extra = ["---\n", "...\n", "%YAML 1.1\n---\n", "--- !!map\n", "%TAG ! tag:x,2000:\n---\n", "---\ncamera: {}\n"]
            lines.insert(Array(extra.randomElement(using: &rng)!.utf8), at: i)
            return joined()
        case 14:   // truncate anywhere (inside a key, a quote, a UTF-8 sequence)
            return Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
        default:   // splice a slice of the text somewhere else
            let a = Int.random(in: 0...b.count, using: &rng), e = Int.random(in: a...b.count, using: &rng)
            var out = b
            out.insert(contentsOf: b[a..<e], at: Int.random(in: 0...b.count, using: &rng))
            return out
        }
    }

    /// Lines without their LF (plain loops: the generic split/joined are slow in debug builds).
    static func split(_ b: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = [], start = 0
        for (i, c) in b.enumerated() where c == 0x0A { out.append(Array(b[start..<i])); start = i + 1 }
        out.append(Array(b[start...]))
        return out
    }

    static func join(_ parts: [[UInt8]], separator: [UInt8] = [0x0A]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count + separator.count })
        for (i, p) in parts.enumerated() {
            if i > 0 { out.append(contentsOf: separator) }
            out.append(contentsOf: p)
        }
        return out
    }
}
