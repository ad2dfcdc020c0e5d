#include "core/tool.h"

#include <iostream>

#include "core/errors.h"

namespace nst {

int run_tool(const std::string& tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    std::cerr << tool << ": error: " << torch_error_message(e) << "\n";
  } catch (const std::exception& e) {
    std::cerr << tool << ": error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace nst
