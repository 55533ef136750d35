import CZlib
import EmotionCore
import Foundation
import Imaging

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

    /// Accuracy, per-class recall/precision/F1, macro-F1 and the confusion matrix. A model whose
    /// labels are not FER2013's is scored by name (`Emotion(name:)`, synonyms included): rows are
    /// the FER2013 classes it has, columns its own classes; faces of a FER2013 class it lacks are
    /// skipped (listed in `unscored`), and a prediction of a class outside FER2013 is a miss.
    public struct Report: Codable {
        public var samples: Int
        public var accuracy: Double
        public var macroF1: Double
        public var perClass: [String: ClassStats]
        /// confusion[true][predicted]: rows `labels`, columns `predicted`.
        public var confusion: [[Int]]
        /// The FER2013 classes scored (FER2013 order).
        public var labels: [String]
        /// The model's classes (its order), the columns of `confusion`.
        public var predicted: [String]
        /// FER2013 classes the model has no class for, and how many faces were skipped for them.
        public var unscored: [String]
        public var skipped: Int
        /// Model classes that are no FER2013 class (never a correct answer here).
        public var unmapped: [String]
        public struct ClassStats: Codable { public var recall: Double; public var precision: Double; public var f1: Double; public var support: Int }

        /// `column[c]`: the model class that is FER2013 class `labels[c]`.
        init(confusion: [[Int]], mapping: LabelMapping, skipped: Int) {
            self.confusion = confusion
            labels = mapping.scored.map(\.name)
            predicted = mapping.model.names
            unscored = mapping.unscored.map(\.name)
            unmapped = mapping.unmapped
            self.skipped = skipped
            samples = confusion.joined().reduce(0, +)
            let rows = labels.indices
            let correct = rows.reduce(0) { $0 + confusion[$1][mapping.column[$1]] }
            accuracy = samples > 0 ? Double(correct) / Double(samples) : 0
            var stats: [String: ClassStats] = [:]
            var f1s: [Double] = []
            for c in rows {
                let col = mapping.column[c]
                let support = confusion[c].reduce(0, +)
                let predictedCount = rows.reduce(0) { $0 + confusion[$1][col] }
                let tp = Double(confusion[c][col])
                let r = support > 0 ? tp / Double(support) : 0
                let p = predictedCount > 0 ? tp / Double(predictedCount) : 0
                let f1 = r + p > 0 ? 2 * r * p / (r + p) : 0
                stats[labels[c]] = ClassStats(recall: r, precision: p, f1: f1, support: support)
                f1s.append(f1)
            }
            perClass = stats
            macroF1 = f1s.isEmpty ? 0 : f1s.reduce(0, +) / Double(f1s.count)
        }
    }

    /// How a model's classes meet FER2013's, by name.
    struct LabelMapping {
        let model: LabelSet
        /// FER2013 classes the model has, and for each the model's class index.
        let scored: [Emotion], column: [Int]
        let unscored: [Emotion]
        let unmapped: [String]
        /// Row of each FER2013 class (nil: unscored).
        let row: [Int?]

        init(_ model: LabelSet) {
            self.model = model
            let pairs = Emotion.allCases.compactMap { e in model.known.firstIndex(of: e).map { (e, $0) } }
            let scored = pairs.map(\.0)
            self.scored = scored; column = pairs.map(\.1)
            unscored = Emotion.allCases.filter { !scored.contains($0) }
            unmapped = model.names.indices.filter { model.known[$0] == nil }.map { model.names[$0] }
            row = Emotion.allCases.map { e in scored.firstIndex(of: e) }
        }
    }

    /// Runs the classifier over the CSV rows of `usage`, `batch` faces per inference call. The
    /// 48×48 gray faces are resized to the model's input and repeated in each colour channel.
    public static func evaluate(_ path: String, usage: String?, classifier: EmotionClassifier, batch: Int = 256) throws -> Report {
        let mapping = LabelMapping(classifier.labels)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classifier.labels.count), count: mapping.scored.count)
        var pending: [(row: Int, pixels: [UInt8])] = [], skipped = 0
        func flush() throws {
            let scores = try classifier.classify(try pending.map { try modelInput($0.pixels, classifier.contract) })
            for (s, sc) in zip(pending, scores) { confusion[s.row][sc.top.label.index] += 1 }
            pending.removeAll(keepingCapacity: true)
        }
        try read(path, usage: usage) { s in
            guard let row = mapping.row[s.label] else { skipped += 1; return }
            pending.append((row, s.pixels))
            if pending.count == batch { try flush() }
        }
        if !pending.isEmpty { try flush() }
        return Report(confusion: confusion, mapping: mapping, skipped: skipped)
    }

    /// A 48×48 gray face as the model's crop: as is for a 48×48 gray model (no resampling, so
    /// FER2013 models score exactly as before), else resized and, for colour, made BGR.
    static func modelInput(_ face: [UInt8], _ c: ModelContract) throws -> [UInt8] {
        if c.width == 48, c.height == 48, c.channels == 1 { return face }
        var f = Frame(width: 48, height: 48, format: .gray8, pixels: face)
        if c.width != 48 || c.height != 48 { f = try f.resized(width: c.width, height: c.height) }
        return c.channels == 3 ? try f.withBGRPixels().pixels : f.pixels
    }
}
