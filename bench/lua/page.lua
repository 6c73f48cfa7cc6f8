-- GET /users?limit=100 (an admin's first page of 100 users) with Accept-Encoding: ENCODING.
local headers = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
local encoding = os.getenv("ENCODING")
if encoding and encoding ~= "" then
  headers["Accept-Encoding"] = encoding
end
request = function()
  return wrk.format("GET", "/users?limit=100", headers)
end
