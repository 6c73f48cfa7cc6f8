-- POST /auth/tokens for an unknown address each time, wrong password: a 401 after one Argon2
-- verification against the dummy hash, each attempt charged to the login limits.
local headers = { ["Content-Type"] = "application/json" }
local n = 0
local prefix
init = function(args)
  prefix = os.getenv("RUN_ID") or tostring(os.time())
end
request = function()
  n = n + 1
  local body = '{"email": "nobody-' .. prefix .. '-' .. n .. '@example.com", "password": "not the password"}'
  return wrk.format("POST", "/auth/tokens", headers, body)
end
