import Testing
@testable import ONNXRun

@Suite struct StringTests {
    func strings(_ shape: [Int], _ values: [String]) -> Tensor { try! Tensor(shape: shape, strings: values) }

    @Test func normalizerDropsStopwordsAndChangesCase() throws {
        let y = try runNode("StringNormalizer", opset: 10, inputs: [strings([4], ["Monday", "tuesday", "MONDAY", "x"])],
                            attributes: ["stopwords": .strings(["monday"]), "case_change_action": .string("UPPER")])[0]
        #expect(y.strings == ["TUESDAY", "X"])
        let all = try runNode("StringNormalizer", opset: 10, inputs: [strings([1, 1], ["monday"])], attributes: ["stopwords": .strings(["monday"])])[0]
        #expect(all.shape == [1, 1] && all.strings == [""])
    }

    @Test func splitPadsAndCounts() throws {
        let out = try runNode("StringSplit", inputs: [strings([2], ["a,b,,c", "d"])], attributes: ["delimiter": .string(",")], outputCount: 2)
        #expect(out[0].shape == [2, 4])
        #expect(out[0].strings == ["a", "b", "", "c", "d", "", "", ""])
        #expect(try out[1].scalars(as: Int64.self) == [4, 1])
        let whitespace = try runNode("StringSplit", inputs: [strings([1], ["  one  two three "])], attributes: ["maxsplit": .int(1)], outputCount: 2)
        #expect(whitespace[0].strings == ["one", "two three "])
    }

    @Test func regexMatchesWholeStrings() throws {
        let y = try runNode("RegexFullMatch", inputs: [strings([3], ["abc123", "abc", "abc-1"])], attributes: ["pattern": .string("[a-z]+[0-9]+")])[0]
        #expect(try y.scalars(as: Bool.self) == [true, false, false])
        #expect(throws: ONNXRunError.self) {
            try runNode("RegexFullMatch", inputs: [strings([1], ["a"])], attributes: ["pattern": .string("([a-z")])
        }
    }

    @Test func concatBroadcasts() throws {
        let y = try runNode("StringConcat", inputs: [strings([2], ["a", "b"]), strings([], ["!"])])[0]
        #expect(y.strings == ["a!", "b!"])
    }
}
