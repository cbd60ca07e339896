import Testing
@testable import PythonHost

/// start_response's rules (ResponseRules.swift): what is refused, with mod_wsgi's messages, so a
/// bad status or header is answered with a 500 and never reaches the client.
@Suite struct ResponseRulesTests {
    static func status(_ s: String) -> String? {
        Array(s.utf8).withUnsafeBytes { ResponseRules.statusProblem($0) }
    }

    static func header(_ bytes: [UInt8], isName: Bool) -> String? {
        bytes.withUnsafeBytes { ResponseRules.headerProblem($0, isName: isName) }
    }

    @Test func statusWithCodeSpaceAndReasonIsAccepted() {
        #expect(Self.status("200 OK") == nil)
        #expect(Self.status("299 Custom Thing") == nil)
        #expect(Self.status("404 Not Found") == nil)
    }

    @Test func statusWithAnEmptyReasonIsAccepted() {
        #expect(Self.status("200 ") == nil)
    }

    @Test func statusCodeIsReadFromTheFirstThreeDigits() {
        for (line, code) in [("200 OK", 200), ("404 x", 404), ("599 ", 599), ("101 Switching", 101)] {
            #expect(Array(line.utf8).withUnsafeBytes { ResponseRules.statusCode($0) } == Int32(code))
        }
    }

    @Test func statusWithoutThreeDigitsIsRefused() {
        for line in ["20 OK", "2000 OK", "abc OK", "", "2", "2x0 OK", " 200 OK"] {
            #expect(Self.status(line) == "status code is not a 3 digit integer", "\(line)")
        }
    }

    @Test func statusCodeStartingWithZeroIsRefused() {
        #expect(Self.status("099 Odd") == "status code is not a 3 digit integer")
        #expect(Self.status("000 ") == "status code is not a 3 digit integer")
    }

    @Test func statusCodeAloneOrWithoutASpaceIsRefused() {
        // As mod_wsgi: "200" alone is not a status line.
        #expect(Self.status("200") == "no space following status code")
        #expect(Self.status("200OK") == "no space following status code")
        #expect(Self.status("200\tOK") == "no space following status code")
    }

    @Test func controlCharactersInTheReasonAreRefused() {
        for line in ["200 OK\r\nInjected: yes", "200 O\nK", "200 O\0K", "200 O\u{7f}K", "200 O\u{1b}K"] {
            #expect(Self.status(line) == "control character present in reason phrase", "\(line.debugDescription)")
        }
    }

    @Test func latin1ReasonBytesAreAccepted() {
        #expect([UInt8]([0x32, 0x30, 0x30, 0x20, 0x63, 0x61, 0x66, 0xe9]).withUnsafeBytes { ResponseRules.statusProblem($0) } == nil)
    }

    @Test func headerNamesAreTokens() {
        for name in ["Content-Type", "X-Custom_1", "x.y", "A!#$%&'*+-.^_`|~z"] {
            #expect(Self.header(Array(name.utf8), isName: true) == nil, "\(name)")
        }
    }

    @Test func headerNamesWithSeparatorsSpacesOrNothingAreRefused() {
        for name in ["X Bad", "X-Bad:", "X\r\nInjected", "", "X(y)", "X\"y", "a/b", "\u{e9}"] {
            #expect(Self.header(Array(name.utf8), isName: true) == "invalid character in header name", "\(name.debugDescription)")
        }
        #expect(Self.header([0x58, 0x80], isName: true) == "invalid character in header name")
    }

    @Test func headerValuesWithCRLFOrNULAreRefused() {
        for value in ["a\r\nInjected: yes", "a\nb", "a\rb", "a\0b"] {
            #expect(Self.header(Array(value.utf8), isName: false) == "carriage return/line feed character present in header value")
        }
    }

    @Test func headerValuesMayHoldTabsSpacesAndLatin1() {
        #expect(Self.header(Array("text/html; charset=utf-8".utf8), isName: false) == nil)
        #expect(Self.header(Array("a\tb".utf8), isName: false) == nil)
        #expect(Self.header([0x63, 0x61, 0x66, 0xe9], isName: false) == nil)
        #expect(Self.header([], isName: false) == nil)
    }

    @Test func contentLengthIsADecimalWithSpacesAround() {
        #expect(ResponseRules.contentLength("100") == 100)
        #expect(ResponseRules.contentLength(" \t42 ") == 42)
        #expect(ResponseRules.contentLength("0") == 0)
        #expect(ResponseRules.contentLength("2147484648") == 2_147_484_648)  // beyond Int32
    }

    @Test func contentLengthThatIsNegativeOrNotANumberIsRefused() {
        for value in ["-1", "abc", "", " ", "1e3", "0x10", "10 20"] {
            #expect(ResponseRules.contentLength(value) == nil, "\(value)")
        }
    }

    @Test func contentLengthBeyondInt64IsRefusedNotATrap() {
        #expect(ResponseRules.contentLength("9223372036854775807") == Int64.max)
        #expect(ResponseRules.contentLength("9223372036854775808") == nil)
        #expect(ResponseRules.contentLength("99999999999999999999999") == nil)
    }

    @Test func trimmingSpacesTakesOnlySpacesAndTabs() {
        #expect(" \t x y \t ".trimmingSpaces == "x y")
        #expect("\nx".trimmingSpaces == "\nx")
        #expect("   ".trimmingSpaces == "")
    }

    @Test func tokenBytesAreExactlyRFC9110sForEveryByte() {
        // The bit-mask lookup against the definition: ALPHA / DIGIT / "!#$%&'*+-.^_`|~".
        let specials = Set("!#$%&'*+-.^_`|~".utf8)
        for b in 0...255 {
            let byte = UInt8(b)
            let expected = (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || (byte >= 0x30 && byte <= 0x39) || specials.contains(byte)
            #expect(isTokenByte(byte) == expected, "byte \(b)")
        }
    }
}
