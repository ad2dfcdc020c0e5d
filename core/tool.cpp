#include "core/tool.h"

#include <iostream>

#include "core/errors.h"

namespace nst {

int run_tool(const std::string& tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {  // what allocated is unknown here; the readers check sizes first
    std::cerr << tool << ": error: out of memory (std::bad_alloc); try a smaller input, --max-size or batch\n";
  } catch (const c10::Error& e) {
    std::cerr << tool << ": error: " << torch_error_message(e) << "\n";
  } catch (const std::exception& e) {
    std::cerr << tool << ": error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace nst
