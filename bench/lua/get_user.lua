-- GET /users/{id} for random ids in [FIRST_ID, LAST_ID].
local first, last = tonumber(os.getenv("FIRST_ID")), tonumber(os.getenv("LAST_ID"))
local headers = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/users/" .. math.random(first, last), headers)
end
