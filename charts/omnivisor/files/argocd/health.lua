-- Argo CD health check for every Omnivisor kind (omnivisor.io/*). Argo CD runs it with the object
-- in the global `obj` (gopher-lua, Lua 5.1) and reads the returned {status, message}.
--
-- It follows the conditions every kind carries (docs/api.md "Conditions"): Ready, and Stalled or
-- Reconciling (kstatus conventions), so a VM that fits on no host or keeps crashing is Degraded
-- (Stalled=True), not Progressing forever. Suspended: what a user stopped or paused on purpose.
local hs = {}

local function condition(conditions, type)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == type then return c end
  end
  return nil
end

local function say(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then return c.reason .. ": " .. c.message end
  if c ~= nil and c.reason ~= nil then return c.reason end
  return fallback
end

local function isTrue(c) return c ~= nil and c.status == "True" end

-- What a user stopped, paused or took out of service on purpose (and that got there).
local function suspended(o)
  local spec = o.spec or {}
  local status = o.status or {}
  if o.kind == "VirtualMachine" then
    if spec.powerState == "Stopped" and status.phase == "Stopped" then return "stopped, as spec.powerState says" end
    if spec.powerState == "Paused" and status.phase == "Paused" then return "paused, as spec.powerState says" end
  elseif o.kind == "VApp" then
    if spec.powerState == "Stopped" and status.phase == "Stopped" then return "every member stopped, as spec.powerState says" end
  elseif o.kind == "Host" then
    if spec.maintenance == true and status.phase == "InMaintenance" then return "in maintenance: takes no VMs" end
  elseif o.kind == "DRSPolicy" then
    if spec.mode == "Manual" then return "mode Manual: recommends moves, makes none" end
  end
  return nil
end

local function health(o)
  local status = o.status
  if o.metadata ~= nil and o.metadata.deletionTimestamp ~= nil then
    local ready = status and condition(status.conditions, "Ready")
    if ready ~= nil and ready.status ~= "True" then return "Progressing", "being deleted; " .. say(ready, "") end
    return "Progressing", "being deleted"
  end
  if status == nil then return "Progressing", "waiting for the Omnivisor controller" end
  local generation = o.metadata and o.metadata.generation
  if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
    return "Progressing", "generation " .. generation .. " not observed yet (observed " .. status.observedGeneration .. ")"
  end
  local ready = condition(status.conditions, "Ready")
  local stalled = condition(status.conditions, "Stalled")
  local reconciling = condition(status.conditions, "Reconciling")
  if isTrue(stalled) then return "Degraded", say(stalled, "stalled") end
  if isTrue(ready) then
    local why = suspended(o)
    if why ~= nil then return "Suspended", why end
    return "Healthy", say(ready, "ready")
  end
  if isTrue(reconciling) then return "Progressing", say(reconciling, "reconciling") end
  if ready ~= nil then return "Progressing", say(ready, "not ready") end
  return "Progressing", "waiting for the Ready condition"
end

hs.status, hs.message = health(obj)
return hs
