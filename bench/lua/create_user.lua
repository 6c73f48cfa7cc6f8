-- POST /users with a new e-mail address each time (sign-ups: Argon2 on every request).
local headers = { ["Content-Type"] = "application/json" }
local n = 0
local prefix
init = function(args)
  prefix = os.getenv("RUN_ID") or tostring(os.time())
end
request = function()
  n = n + 1
  local body = '{"name": "Load", "email": "load-' .. prefix .. '-' .. n .. '@example.com", "password": "load password 1"}'
  return wrk.format("POST", "/users", headers, body)
end
