import EmotionCore
import Foundation
import Sinks
import XCTest

/// Colours of a model's classes (issue #16): a well-known emotion keeps its colour in any model
/// (synonyms included); the other classes get generated colours, distinct from each other.
final class LabelColoursTests: XCTestCase {
    func testKnownEmotionsKeepTheirColoursOthersGetDistinctOnes() {
        let labels = LabelSet(["happiness", "sad", "contempt", "confused", "bored", "pain", "neutral"])
        XCTAssertTrue(EmotionColors.bgr(0, in: labels) == EmotionColors.bgr(.happy))
        XCTAssertTrue(EmotionColors.bgr("sad", in: labels) == EmotionColors.bgr(.sad))
        XCTAssertTrue(EmotionColors.bgr(6, in: labels) == EmotionColors.bgr(.neutral))
        let colours = labels.names.indices.map { EmotionColors.bgr($0, in: labels) }.map { "\($0.0),\($0.1),\($0.2)" }
        XCTAssertEqual(Set(colours).count, labels.count, "\(colours)")
        // Generated colours depend on the set, not on the run: the same model draws the same way.
        XCTAssertTrue(EmotionColors.bgr(3, in: labels) == EmotionColors.bgr(3, in: LabelSet(labels.names)))
    }
}
