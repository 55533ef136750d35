import EmotionCore
import Inference

/// Runs the emotion model on face crops of its input size and colour (`ModelContract`), all
/// faces of a frame in one batch.
public final class EmotionClassifier: @unchecked Sendable {
    public let model: Model
    public let contract: ModelContract
    public var inputHeight: Int { contract.height }
    public var inputWidth: Int { contract.width }
    public var labels: LabelSet { contract.labels }
    /// Average the scores of the crop and its mirror image (test-time augmentation).
    public var flipTTA: Bool
    /// For each tensor channel, which byte of an interleaved crop pixel feeds it (crops are gray,
    /// or BGR as OpenCV frames are; an RGB model takes byte 2 first).
    private let sourceByte: [Int]
    /// Further ensemble members (`model.path` as a list): each runs on the same crops with its
    /// own normalisation and TTA; `order[j]` is where the member's score for this model's label j is.
    public let others: [(member: EmotionClassifier, order: [Int])]
    /// Every member's file, this model first: what `eval`, `--version` and `run` report.
    public var paths: [String] { [model.path] + others.map(\.member.model.path) }
    public var name: String { paths.joined(separator: " + ") }

    /// `flipTTA` nil: what the model declares in its `tta` metadata (`none` when absent), so
    /// eval, image, batch, live and run all run the same views by default.
    public convenience init(model: Model, flipTTA: Bool? = nil) throws {
        try self.init(models: [model], flipTTA: flipTTA)
    }

    /// An ensemble: the models' probabilities are averaged per face. Crops are cut for the first
    /// model's contract, so the others must take the same input size and colour (mean/std may
    /// differ) and have the same labels (in any order: mapped by name).
    public init(models: [Model], flipTTA: Bool? = nil) throws {
        guard let model = models.first else { throw InferenceError.badModel(detail: "an ensemble needs at least one model") }
        self.model = model
        self.flipTTA = try flipTTA ?? TTA.declared(by: model).flips
        let first = try ModelContract(model: model)
        contract = first
        sourceByte = first.color == .rgb ? [2, 1, 0] : Array(0..<first.channels)
        others = try models.dropFirst().map { m in
            let member = try EmotionClassifier(model: m, flipTTA: flipTTA)
            return (member, try Self.memberOrder(first, model.path, member))
        }
        // One run on a mid-gray crop at load, so a model that yields NaN for everything (broken
        // weights) is refused before any output file exists rather than at the first face.
        let probe = try model.run(tensor(for: [[UInt8](repeating: 128, count: contract.cropBytes)]))
        if let bad = probe.data.first(where: { !$0.isFinite }) {
            throw InferenceError.badModel(
                detail: "the model produces a non-finite score (\(bad)) even for a uniform gray face")
        }
    }

    /// Where each of our labels sits in the member's output; a different label set, input size or
    /// colour is an error naming both files (averaging them would mix unrelated scores).
    private static func memberOrder(_ first: ModelContract, _ firstPath: String, _ m: EmotionClassifier) throws -> [Int] {
        let c = m.contract, pair = "\(firstPath) and \(m.model.path)"
        guard Set(c.labels.names) == Set(first.labels.names), c.labels.count == first.labels.count else {
            throw InferenceError.badModel(detail: "ensemble members have different labels: \(pair) (\(first.labels.names.joined(separator: ",")) vs \(c.labels.names.joined(separator: ",")))")
        }
        guard c.width == first.width, c.height == first.height, c.color == first.color else {
            throw InferenceError.badModel(detail: "ensemble members take different inputs: \(pair) (\(first.width)x\(first.height) \(first.color.rawValue) vs \(c.width)x\(c.height) \(c.color.rawValue))")
        }
        return first.labels.names.map { c.labels.names.firstIndex(of: $0)! }
    }

    public convenience init(paths: [String], flipTTA: Bool? = nil) throws {
        try self.init(models: try paths.map { try ONNXLoader.load(path: $0) }, flipTTA: flipTTA)
    }

    public convenience init(path: String, flipTTA: Bool? = nil) throws {
        try self.init(model: try ONNXLoader.load(path: path), flipTTA: flipTTA)
    }

    /// Normalises crops (height × width × channels bytes, interleaved) into one NCHW batch.
    public func tensor(for crops: [[UInt8]]) -> Tensor {
        let c = contract.channels, plane = inputHeight * inputWidth, per = plane * c
        var data = [Float](repeating: 0, count: crops.count * per)
        for (i, crop) in crops.enumerated() {
            precondition(crop.count == per, "crop must be \(inputWidth)×\(inputHeight)×\(c) bytes")
            for ch in 0..<c {
                // Same arithmetic as before colour models, so gray models give bit-identical scores.
                let mean = contract.mean[ch], invStd = 1 / contract.std[ch], src = sourceByte[ch]
                let base = i * per + ch * plane
                for j in 0..<plane { data[base + j] = (Float(crop[j * c + src]) / 255 - mean) * invStd }
            }
        }
        return Tensor(shape: [crops.count, c, inputHeight, inputWidth], data: data)
    }

    /// Scores for each crop (see `tensor(for:)`), in one batched call.
    /// With several members, the mean of their (TTA-averaged) scores.
    public func classify(_ crops: [[UInt8]]) throws -> [EmotionScores] {
        if crops.isEmpty { return [] }
        var sums = try rawScores(crops)
        for (member, order) in others {
            let theirs = try member.rawScores(crops)
            for i in sums.indices { for j in order.indices { sums[i][j] += theirs[i][order[j]] } }
        }
        let n = Float(1 + others.count)
        return sums.map { EmotionScores(others.isEmpty ? $0 : $0.map { $0 / n }, labels: labels) }
    }

    /// This model's own scores per crop, in its label order.
    private func rawScores(_ crops: [[UInt8]]) throws -> [[Float]] {
        var x = tensor(for: crops)
        if flipTTA { x = Tensor(shape: [2 * crops.count] + x.shape.dropFirst(), data: x.data + mirrored(x.data)) }
        let y = try model.run(x)
        let k = labels.count
        // NaN/inf scores have no label and cannot be encoded as JSON. The model is at fault, not
        // the face, so this is a model error (fatal) rather than a skipped face: a model that
        // fails on some crops gives results nobody can trust on the others.
        if let bad = y.data.first(where: { !$0.isFinite }) {
            throw InferenceError.badModel(detail: "model \(model.path) produced a non-finite score (\(bad)) for a face")
        }
        return (0..<crops.count).map { i in
            var v = Array(y.data[(i * k)..<((i + 1) * k)])
            if flipTTA { for j in 0..<k { v[j] = (v[j] + y.data[(crops.count + i) * k + j]) / 2 } }
            return v
        }
    }

    /// Every row of every plane reversed (the mirror image of each crop).
    private func mirrored(_ data: [Float]) -> [Float] {
        let w = inputWidth
        var out = data
        for row in stride(from: 0, to: data.count, by: w) {
            for c in 0..<w { out[row + c] = data[row + w - 1 - c] }
        }
        return out
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
