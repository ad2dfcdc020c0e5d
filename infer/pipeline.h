// The read -> stylize -> write pipeline of folder and video jobs: reading and writing run in their
// own threads, joined to the caller's stylizing loop by small queues, so decoding and encoding
// overlap the net and nothing is read far ahead.
#pragma once
#include <thread>
#include <utility>

#include "core/signals.h"
#include "infer/bounded_queue.h"

namespace nst {

// read(Item&) fills the next item and returns false at the end (reader thread); process(Item&)
// runs on the calling thread and returns false to drop the item; write(Item&) gets the kept items
// in order (writer thread). Stops early once stop_requested(). If process throws, both threads are
// stopped and joined (the writer still writes what was queued) and the exception propagates.
template <typename Item, typename Read, typename Process, typename Write>
void run_pipeline(size_t capacity, Read read, Process process, Write write) {
  BoundedQueue<Item> unprocessed(capacity), processed(capacity);
  std::thread reader([&] {
    while (!stop_requested()) {
      Item item;
      if (!read(item) || !unprocessed.push(std::move(item))) break;
    }
    unprocessed.close();
  });
  std::thread writer([&] {
    while (auto item = processed.pop()) write(*item);
  });
  auto finish = [&] {
    processed.close();  // the writer drains what is queued
    unprocessed.close();
    reader.join();
    writer.join();
  };
  try {
    while (auto item = unprocessed.pop()) {
      if (process(*item)) processed.push(std::move(*item));
      if (stop_requested()) break;
    }
  } catch (...) {
    finish();
    throw;
  }
  finish();
}

}  // namespace nst
