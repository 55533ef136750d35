/// The seven FER2013 classes, in dataset order (label index = raw value). These are the
/// *well-known* emotions: a model may name any classes (`LabelSet`); those that are one of these
/// (or a common synonym, `init(name:)`) keep its colour and are scored by `eval` against FER2013.
public enum Emotion: Int, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case angry = 0, disgust, fear, happy, sad, surprise, neutral

    public var name: String {
        switch self {
        case .angry: return "angry"
        case .disgust: return "disgust"
        case .fear: return "fear"
        case .happy: return "happy"
        case .sad: return "sad"
        case .surprise: return "surprise"
        case .neutral: return "neutral"
        }
    }

    public var description: String { name }

    /// The FER2013 name, or a synonym other datasets use (FER+ writes "happiness", "anger", …).
    public init?(name: String) {
        let key = name.lowercased()
        guard let e = Emotion.allCases.first(where: { $0.name == key }) ?? Self.synonyms[key] else { return nil }
        self = e
    }

    private static let synonyms: [String: Emotion] = [
        "anger": .angry, "disgusted": .disgust, "fearful": .fear, "scared": .fear, "happiness": .happy,
        "sadness": .sad, "surprised": .surprise, "calm": .neutral,
    ]

    /// FER2013 label names in index order.
    public static let fer2013Labels: [String] = Emotion.allCases.map(\.name)
}

/// A model's class names in its output order (the `labels` metadata; FER2013's when absent).
/// One instance is shared by every score vector of that model, so a score vector stays an array
/// of floats plus a reference, and a label is an index into `names` on the hot path.
public final class LabelSet: Sendable, Equatable, CustomStringConvertible {
    public let names: [String]
    /// The well-known emotion each class is, nil for others (colours, eval's name mapping).
    public let known: [Emotion?]
    private let indexByName: [String: Int]

    /// `names` must be ≥ 2 distinct, non-empty names (the model loader checks this with a
    /// named error before building one).
    public init(_ names: [String]) {
        precondition(names.count >= 2 && Set(names).count == names.count, "labels must be ≥ 2 distinct names")
        self.names = names
        known = names.map { Emotion(name: $0) }
        indexByName = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    }

    public static let fer2013 = LabelSet(Emotion.fer2013Labels)

    public var count: Int { names.count }
    public var description: String { names.joined(separator: ",") }
    public subscript(_ i: Int) -> String { names[i] }
    public func index(of name: String) -> Int? { indexByName[name] }

    public static func == (a: LabelSet, b: LabelSet) -> Bool { a === b || a.names == b.names }
}

/// A class of a model: its index in the model's `LabelSet`.
public struct EmotionLabel: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let labels: LabelSet
    public init(_ index: Int, in labels: LabelSet) { self.index = index; self.labels = labels }
    public var name: String { labels.names[index] }
    public var description: String { name }
    public static func == (a: EmotionLabel, b: EmotionLabel) -> Bool { a.index == b.index && a.labels == b.labels }
}

/// Probabilities over a model's classes (its `LabelSet` order), summing to ~1.
public struct EmotionScores: Equatable, Sendable {
    public var values: [Float]
    public let labels: LabelSet

    public init(_ values: [Float], labels: LabelSet = .fer2013) {
        precondition(values.count == labels.count, "EmotionScores needs \(labels.count) values")
        self.values = values
        self.labels = labels
    }

    public subscript(_ i: Int) -> Float { values[i] }

    /// The score of a class by name (0 when the model has no such class).
    public subscript(_ name: String) -> Float { labels.index(of: name).map { values[$0] } ?? 0 }

    /// The most probable class and its probability.
    public var top: (label: EmotionLabel, confidence: Float) {
        var best = 0
        for i in 1..<values.count where values[i] > values[best] { best = i }
        return (EmotionLabel(best, in: labels), values[best])
    }

    /// Name → score, the form every output carries (keys = the model's labels).
    public var byName: [String: Float] {
        Dictionary(uniqueKeysWithValues: zip(labels.names, values).map { ($0, $1) })
    }
}
