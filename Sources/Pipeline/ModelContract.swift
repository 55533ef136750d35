import EmotionCore
import Inference

/// What an emotion model expects and yields, from its metadata checked against its graph: the
/// labels (output order), the input size and colour, the normalisation and the crop framing.
/// Missing keys fall back to what FER2013 models use (7 labels, gray, mean 0, std 1); keys that
/// contradict the graph or each other are an error naming the file and the key, so a model is
/// refused at load rather than producing scores under the wrong names.
public struct ModelContract: Sendable {
    /// Channel layout of the input tensor.
    public enum Color: String, CaseIterable, Sendable {
        case gray, rgb, bgr
        public var channels: Int { self == .gray ? 1 : 3 }
    }

    public let labels: LabelSet
    public let width: Int, height: Int
    public let color: Color
    /// Per channel (a single metadata value is repeated), in the tensor's channel order.
    public let mean: [Float], std: [Float]
    public let cropMargin: Float?

    public init(model: Model) throws {
        let meta = model.metadata
        let fail = { (key: String, why: String) in
            InferenceError.badModel(detail: "\(model.path): metadata \(key): \(why)")
        }
        let dims = model.inputDims
        guard dims.count == 4, let c = dims[1], let h = dims[2], let w = dims[3], c == 1 || c == 3 else {
            throw InferenceError.badModel(detail: "\(model.path): input '\(model.inputName)' must be [N, 1 or 3, H, W]; got \(dims.map { $0 ?? -1 })")
        }
        width = w; height = h
        color = try Self.color(meta.color, channels: c, fail)
        if let s = meta.inputSize, s.width != w || s.height != h {
            throw fail("input_size", "'\(meta.properties["input_size"] ?? "")' but the graph's input '\(model.inputName)' is \(w)x\(h)")
        }
        mean = try Self.perChannel(meta.mean, c, "mean", fail)
        std = try Self.perChannel(meta.std, c, "std", fail)
        labels = try Self.labels(meta.labels, outputs: try model.outputShape(batch: 1), fail)
        cropMargin = meta.cropMargin
    }

    public var channels: Int { color.channels }
    /// Bytes of one crop: height × width × channels (interleaved BGR for colour).
    public var cropBytes: Int { width * height * channels }

    private static func color(_ raw: String?, channels c: Int, _ fail: (String, String) -> Error) throws -> Color {
        // Absent: gray for one channel (today's models); RGB for three, the torchvision convention.
        guard let raw else { return c == 1 ? .gray : .rgb }
        guard let color = Color(rawValue: raw) else {
            throw fail("color", "'\(raw)' is not one of \(Color.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard color.channels == c else { throw fail("color", "'\(raw)' needs \(color.channels) input channel\(color.channels == 1 ? "" : "s"); the graph's input has \(c)") }
        return color
    }

    private static func perChannel(_ v: [Float], _ c: Int, _ key: String, _ fail: (String, String) -> Error) throws -> [Float] {
        if v.count == c { return v }
        guard v.count == 1 else { throw fail(key, "\(v.count) values for \(c) input channel\(c == 1 ? "" : "s") (give 1 or \(c))") }
        return [Float](repeating: v[0], count: c)
    }

    private static func labels(_ names: [String]?, outputs: [Int], _ fail: (String, String) -> Error) throws -> LabelSet {
        guard outputs.count == 2, outputs[0] == 1, outputs[1] >= 2 else {
            throw fail("labels", "the model must output [N, K] scores with K ≥ 2; it outputs \(outputs)")
        }
        let k = outputs[1]
        guard let names else {
            guard k == Emotion.fer2013Labels.count else {
                throw fail("labels", "missing, and the model outputs \(k) scores (without labels they are the 7 FER2013 classes)")
            }
            return .fer2013
        }
        guard names.count == k else { throw fail("labels", "\(names.count) labels but the model outputs \(k) scores") }
        if let bad = names.first(where: { $0.isEmpty || $0.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "\"" }) }) {
            throw fail("labels", "'\(bad)' is not a label (empty, or with spaces or quotes)")
        }
        guard Set(names).count == names.count else { throw fail("labels", "a label is listed twice (\(names.joined(separator: ",")))") }
        return LabelSet(names)
    }
}
