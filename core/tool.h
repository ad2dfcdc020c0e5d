// The frame of every executable's main(): `return run_tool("nst-x", [&] { ...; return status; });`.
#pragma once
#include <functional>
#include <string>

namespace nst {

// Runs a tool's body: any exception becomes one line "TOOL: error: MESSAGE" on stderr (no LibTorch
// backtrace) and exit status 1.
int run_tool(const std::string& tool, const std::function<int()>& body);

}  // namespace nst
