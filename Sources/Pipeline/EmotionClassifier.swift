import EmotionCore
import Inference

/// Runs the emotion model on 48×48 grayscale face crops, all faces of a frame in one batch.
public final class EmotionClassifier: @unchecked Sendable {
    public let model: Model
    public let inputHeight: Int, inputWidth: Int
    public let labels: [String]
    /// Average the scores of the crop and its mirror image (test-time augmentation).
    public var flipTTA: Bool

    /// `flipTTA` nil: what the model declares in its `tta` metadata (`none` when absent), so
    /// eval, image, batch, live and run all run the same views by default.
    public init(model: Model, flipTTA: Bool? = nil) throws {
        self.model = model
        self.flipTTA = try flipTTA ?? TTA.declared(by: model).flips
        let dims = model.inputDims
        guard dims.count == 4, dims[1] == 1, let h = dims[2], let w = dims[3] else {
            throw InferenceError.wrongInputShape(expected: [1, 1, 48, 48], got: dims.map { $0 ?? -1 })
        }
        inputHeight = h; inputWidth = w
        let out = try model.outputShape(batch: 1)
        labels = model.metadata.labels ?? Emotion.fer2013Labels
        guard out == [1, Emotion.allCases.count], labels == Emotion.fer2013Labels else {
            throw InferenceError.badModel(detail: "emotion model must output 7 scores in FER2013 order (\(Emotion.fer2013Labels.joined(separator: ","))); got shape \(out) labels \(labels)")
        }
        // One run on a mid-gray crop at load, so a model that yields NaN for everything (broken
        // weights) is refused before any output file exists rather than at the first face.
        let probe = try model.run(tensor(for: [[UInt8](repeating: 128, count: h * w)]))
        if let bad = probe.data.first(where: { !$0.isFinite }) {
            throw InferenceError.badModel(
                detail: "the model produces a non-finite score (\(bad)) even for a uniform gray face")
        }
    }

    public convenience init(path: String, flipTTA: Bool? = nil) throws {
        try self.init(model: try ONNXLoader.load(path: path), flipTTA: flipTTA)
    }

    /// Normalises gray8 crops of the model's input size into one NCHW batch.
    public func tensor(for crops: [[UInt8]]) -> Tensor {
        let per = inputHeight * inputWidth
        let mean = model.metadata.mean, invStd = 1 / model.metadata.std
        var data = [Float](repeating: 0, count: crops.count * per)
        for (i, c) in crops.enumerated() {
            precondition(c.count == per, "crop must be \(inputWidth)×\(inputHeight) gray")
            for j in 0..<per { data[i * per + j] = (Float(c[j]) / 255 - mean) * invStd }
        }
        return Tensor(shape: [crops.count, 1, inputHeight, inputWidth], data: data)
    }

    /// Scores for each crop (gray8, inputWidth×inputHeight), in one batched call.
    public func classify(_ crops: [[UInt8]]) throws -> [EmotionScores] {
        if crops.isEmpty { return [] }
        var x = tensor(for: crops)
        if flipTTA {
            // Append mirrored crops to the same batch, then average pairwise.
            let per = inputHeight * inputWidth
            var mirrored = x.data
            for i in 0..<crops.count {
                for r in 0..<inputHeight {
                    for c in 0..<inputWidth { mirrored[i * per + r * inputWidth + c] = x.data[i * per + r * inputWidth + (inputWidth - 1 - c)] }
                }
            }
            x = Tensor(shape: [2 * crops.count, 1, inputHeight, inputWidth], data: x.data + mirrored)
        }
        let y = try model.run(x)
        let k = Emotion.allCases.count
        // NaN/inf scores have no label and cannot be encoded as JSON. The model is at fault, not
        // the face, so this is a model error (fatal) rather than a skipped face: a model that
        // fails on some crops gives results nobody can trust on the others.
        if let bad = y.data.first(where: { !$0.isFinite }) {
            throw InferenceError.badModel(detail: "model \(model.path) produced a non-finite score (\(bad)) for a face")
        }
        return (0..<crops.count).map { i in
            var v = Array(y.data[(i * k)..<((i + 1) * k)])
            if flipTTA { for j in 0..<k { v[j] = (v[j] + y.data[(crops.count + i) * k + j]) / 2 } }
            return EmotionScores(v)
        }
    }
}

/// Test-time augmentation: the views of each face whose scores are averaged.
public enum TTA: String, CaseIterable, Sendable {
    case none, flip

    public var flips: Bool { self == .flip }

    /// The model's `tta` metadata; absent means none, an unknown value is a named model error.
    public static func declared(by model: Model) throws -> TTA {
        guard let raw = model.metadata.properties["tta"] else { return .none }
        guard let t = TTA(rawValue: raw) else {
            let allowed = allCases.map(\.rawValue).joined(separator: ", ")
            throw InferenceError.badModel(detail: "metadata tta \"\(raw)\" is not one of \(allowed)")
        }
        return t
    }
}
