-- Reads a client does most: a user, an account, the first page of an account's transactions.
local first, last = tonumber(os.getenv("FIRST_ID")), tonumber(os.getenv("LAST_ID"))
local account = os.getenv("ACCOUNT")
local headers = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
local paths = {
  function() return "/users/" .. math.random(first, last) end,
  function() return "/accounts/" .. account end,
  function() return "/accounts/" .. account .. "/transactions?limit=20" end,
}
local n = 0
math.randomseed(os.time())
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % 3) + 1](), headers)
end
