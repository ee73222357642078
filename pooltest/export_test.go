package pooltest

// VerifyMain is verifyMain, for the tests.
var VerifyMain = verifyMain
