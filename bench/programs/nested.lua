-- Nested loops, 3000 × 3000, summing (a * b) % 7.
local total = 0
local a = 0
while a < 3000 do
    local b = 0
    while b < 3000 do
        total = total + (a * b) % 7
        b = b + 1
    end
    a = a + 1
end
print(total)
