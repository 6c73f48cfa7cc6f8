-- POST /transfers of 1 between $ACCOUNT and $ACCOUNT2, alternating directions.
local a, b = os.getenv("ACCOUNT"), os.getenv("ACCOUNT2")
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
local n = 0
request = function()
  n = n + 1
  local from, to = a, b
  if n % 2 == 0 then from, to = b, a end
  local body = '{"from_account_id": ' .. from .. ', "to_account_id": ' .. to .. ', "amount": 1}'
  return wrk.format("POST", "/transfers", headers, body)
end
