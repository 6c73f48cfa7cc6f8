-- POST /accounts/{random id in [FIRST_ACCOUNT, LAST_ACCOUNT]}/withdrawals {"amount": 1}.
local first, last = tonumber(os.getenv("FIRST_ACCOUNT")), tonumber(os.getenv("LAST_ACCOUNT"))
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
}
math.randomseed(os.time())
request = function()
  local path = "/accounts/" .. math.random(first, last) .. "/withdrawals"
  return wrk.format("POST", path, headers, '{"amount": 1}')
end
