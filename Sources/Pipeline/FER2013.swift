import CZlib
import EmotionCore
import Foundation

/// Reader and evaluator for FER2013-format CSVs (`emotion,pixels,Usage`, optionally gzipped).
public enum FER2013 {
    public struct Sample { public let label: Int; public let pixels: [UInt8] }

    public enum Error: Swift.Error, CustomStringConvertible {
        case unreadable(String, String)
        case badHeader(String, String)
        case badRow(String, line: Int, String)
        public var description: String {
            switch self {
            case let .unreadable(p, why): return "cannot read \(p): \(why)"
            case let .badHeader(p, h): return "\(p): expected header 'emotion,pixels,Usage', found '\(h)'"
            case let .badRow(p, line, why): return "\(p):\(line): \(why)"
            }
        }
    }

    /// Streams rows of `usage` (nil: all rows) to `body`.
    public static func read(_ path: String, usage: String?, _ body: (Sample) throws -> Void) throws {
        guard let f = emo_gz_open(path) else {
            throw Error.unreadable(path, FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        defer { emo_gz_close(f) }
        var buf = [CChar](repeating: 0, count: 1 << 16)
        func nextLine() throws -> String? {
            let r = emo_gz_gets(f, &buf, Int32(buf.count))
            if r == 0 { return nil }
            if r < 0 { throw Error.unreadable(path, String(cString: emo_gz_error(f))) }
            return String(cString: buf).trimmingCharacters(in: .newlines)
        }
        let header = try nextLine() ?? ""
        guard header.hasPrefix("emotion,pixels,Usage") else { throw Error.badHeader(path, String(header.prefix(60))) }
        var line = 1
        while let row = try nextLine() {
            line += 1
            if row.isEmpty { continue }
            // Skip other splits before the (costly) full split of 2,304 pixel values.
            if let usage, !row.hasSuffix(",\(usage)") { continue }
            let parts = row.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 3, let label = Int(parts[0]), (0..<7).contains(label) else {
                throw Error.badRow(path, line: line, "expected 'label(0-6),pixels,Usage'")
            }
            if let usage, parts[2] != usage { continue }
            var px = [UInt8](); px.reserveCapacity(2304)
            for v in parts[1].split(separator: " ") {
                guard let b = UInt8(v) else { throw Error.badRow(path, line: line, "pixel '\(v)' is not 0-255") }
                px.append(b)
            }
            guard px.count == 48 * 48 else { throw Error.badRow(path, line: line, "\(px.count) pixels, expected 2304") }
            try body(Sample(label: label, pixels: px))
        }
    }

    /// Accuracy, per-class recall/precision/F1, macro-F1 and the confusion matrix.
    public struct Report: Codable {
        public var samples: Int
        public var accuracy: Double
        public var macroF1: Double
        public var perClass: [String: ClassStats]
        /// confusion[true][predicted], FER2013 order.
        public var confusion: [[Int]]
        public var labels: [String]
        public struct ClassStats: Codable { public var recall: Double; public var precision: Double; public var f1: Double; public var support: Int }

        init(confusion: [[Int]]) {
            self.confusion = confusion
            labels = Emotion.fer2013Labels
            samples = confusion.joined().reduce(0, +)
            let correct = (0..<7).reduce(0) { $0 + confusion[$1][$1] }
            accuracy = samples > 0 ? Double(correct) / Double(samples) : 0
            var stats: [String: ClassStats] = [:]
            var f1s: [Double] = []
            for c in 0..<7 {
                let support = confusion[c].reduce(0, +)
                let predicted = (0..<7).reduce(0) { $0 + confusion[$1][c] }
                let tp = Double(confusion[c][c])
                let r = support > 0 ? tp / Double(support) : 0
                let p = predicted > 0 ? tp / Double(predicted) : 0
                let f1 = r + p > 0 ? 2 * r * p / (r + p) : 0
                stats[labels[c]] = ClassStats(recall: r, precision: p, f1: f1, support: support)
                f1s.append(f1)
            }
            perClass = stats
            macroF1 = f1s.reduce(0, +) / 7
        }
    }

    /// Runs the classifier over the CSV rows of `usage`, `batch` faces per inference call.
    public static func evaluate(_ path: String, usage: String?, classifier: EmotionClassifier, batch: Int = 256) throws -> Report {
        precondition(classifier.inputWidth == 48 && classifier.inputHeight == 48, "FER2013 faces are 48×48")
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: 7), count: 7)
        var pending: [Sample] = []
        func flush() throws {
            let scores = try classifier.classify(pending.map(\.pixels))
            for (s, sc) in zip(pending, scores) { confusion[s.label][sc.top.emotion.rawValue] += 1 }
            pending.removeAll(keepingCapacity: true)
        }
        try read(path, usage: usage) { s in
            pending.append(s)
            if pending.count == batch { try flush() }
        }
        if !pending.isEmpty { try flush() }
        return Report(confusion: confusion)
    }
}
