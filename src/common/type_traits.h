// Which template a type is an instance of, for code that walks a struct's members by type.
#pragma once

#include <optional>
#include <type_traits>
#include <vector>

namespace enospcd {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

}  // namespace enospcd
