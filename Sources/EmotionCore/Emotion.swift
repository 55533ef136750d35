/// The seven FER2013 classes, in dataset order (label index = raw value).
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

    public init?(name: String) {
        guard let e = Emotion.allCases.first(where: { $0.name == name }) else { return nil }
        self = e
    }

    /// FER2013 label names in index order.
    public static let fer2013Labels: [String] = Emotion.allCases.map(\.name)
}

/// Probabilities over the seven classes (FER2013 order), summing to ~1.
public struct EmotionScores: Equatable, Codable, Sendable {
    public var values: [Float]

    public init(_ values: [Float]) {
        precondition(values.count == Emotion.allCases.count, "EmotionScores needs 7 values")
        self.values = values
    }

    public subscript(_ e: Emotion) -> Float { values[e.rawValue] }

    /// The most probable class and its probability.
    public var top: (emotion: Emotion, confidence: Float) {
        var best = 0
        for i in 1..<values.count where values[i] > values[best] { best = i }
        return (Emotion(rawValue: best)!, values[best])
    }
}
