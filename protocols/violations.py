"""The violation vocabulary. Codes are stable: add new ones, never rename."""
from __future__ import annotations

NO_TOOL_CALL = "no_tool_call"
MULTIPLE_TOOL_CALLS = "multiple_tool_calls"
TEXT_AFTER_TOOL_CALL = "text_after_tool_call"
UNCLOSED_TOOL = "unclosed_tool"
UNKNOWN_TOOL = "unknown_tool"
MISSING_REQUIRED_PARAM = "missing_required_param"
UNEXPECTED_PARAM = "unexpected_param"
INVALID_PARAM_VALUE = "invalid_param_value"
INVALID_JSON_ARGUMENTS = "invalid_json_arguments"
TOOL_NOT_ALLOWED_IN_MODE = "tool_not_allowed_in_mode"
FILE_RESTRICTED = "file_restricted"
MALFORMED_DIFF = "malformed_diff"
PLACEHOLDER_CONTENT = "placeholder_content"
QUESTION_IN_COMPLETION = "question_in_completion"
CONVERSATIONAL_OPENER = "conversational_opener"
MESSAGE_TOO_LARGE = "message_too_large"
# expectation codes (scoring against a case's `expect`)
WRONG_TOOL = "wrong_tool"
WRONG_ARGUMENTS = "wrong_arguments"
UNEXPECTED_TOOL_CALL = "unexpected_tool_call"

DESCRIPTIONS: dict[str, str] = {
    NO_TOOL_CALL: "the answer contains no executable tool call",
    MULTIPLE_TOOL_CALLS: "more than one tool call in one turn (only the first would run)",
    TEXT_AFTER_TOOL_CALL: "prose after the tool call (dropped by the client)",
    UNCLOSED_TOOL: "a tool call or parameter without its exact closing tag",
    UNKNOWN_TOOL: "a call to a tool that is not in the catalog",
    MISSING_REQUIRED_PARAM: "a required parameter is absent or empty",
    UNEXPECTED_PARAM: "a parameter the tool does not define",
    INVALID_PARAM_VALUE: "a parameter value that breaks the tool's schema or value grammar",
    INVALID_JSON_ARGUMENTS: "tool-call arguments that are not a JSON object",
    TOOL_NOT_ALLOWED_IN_MODE: "a tool outside the current mode's groups",
    FILE_RESTRICTED: "an edit to a file the mode may not edit",
    MALFORMED_DIFF: "apply_diff text that breaks the SEARCH/REPLACE grammar",
    PLACEHOLDER_CONTENT: "placeholder or omitted content instead of real values",
    QUESTION_IN_COMPLETION: "attempt_completion ends with a question or an offer",
    CONVERSATIONAL_OPENER: "the message opens with a conversational filler word",
    MESSAGE_TOO_LARGE: "the message exceeds the client's size limit",
    WRONG_TOOL: "a different tool than expected",
    WRONG_ARGUMENTS: "the expected tool with wrong arguments",
    UNEXPECTED_TOOL_CALL: "a call where none was expected",
}

CODES: tuple[str, ...] = tuple(DESCRIPTIONS)
