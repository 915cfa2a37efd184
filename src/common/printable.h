// Text from the kernel and from other users (paths, comms, container names, cause summaries) made safe for a
// terminal: control characters and invalid UTF-8 become visible escapes, so that such text can neither move the
// cursor, set the window title, change colours nor forge a line.
#pragma once

#include <string>
#include <string_view>

namespace enospcd {

// Every control character escaped: ESC as \e, newline \n, tab \t, carriage return \r, any other C0 byte, DEL and
// each byte of an invalid UTF-8 sequence as \xNN; C1 controls (U+0080..U+009F) and the bidirectional overrides
// and isolates (U+202A..U+202E, U+2066..U+2069) as \uNNNN. Valid printable UTF-8 passes unchanged, and so does the
// backslash, so escaping an escaped string changes nothing.
std::string printable(std::string_view text);

// The same for multi-line text: newlines are kept, everything else is escaped as printable() does.
std::string printable_lines(std::string_view text);

}  // namespace enospcd
