"""The tools the lints know: Roo's prompt rules apply to them only, so a BFCL or user function never meets them."""
from __future__ import annotations

# Roo v3.29.3's 21 tools plus the later native-era names.
ROO_TOOLS = frozenset({
    "execute_command", "read_file", "write_to_file", "apply_diff", "insert_content", "search_and_replace",
    "search_files", "list_files", "list_code_definition_names", "browser_action", "use_mcp_tool",
    "access_mcp_resource", "ask_followup_question", "attempt_completion", "switch_mode", "new_task",
    "fetch_instructions", "codebase_search", "update_todo_list", "run_slash_command", "generate_image",
    # native era (v3.41+)
    "apply_patch", "search_replace", "edit_file", "edit", "read_command_output", "skill",
})
